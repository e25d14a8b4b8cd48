"""Build the course as a browsable website or as reveal.js slides, from executed notebooks.

    python scripts/build_site.py site      # _site/index.html (table of contents) + one page each
    python scripts/build_site.py slides    # slides/index.html + NN_name.slides.html per chapter
    python scripts/build_site.py vendor    # once, online: local reveal.js so slides work offline

Notebooks are executed with nbclient (default: quick mode and the library's default weights:
ImageNet where its file is on this machine, else HED's trained VGG16 features offline; set
``NST_WEIGHTS=imagenet NST_QUICK=0`` for the paper's pictures on a GPU) into a cache,
``_build/executed/``, and an executed copy is reused while its source, weights and mode are
unchanged. ``--execute 01,solutions`` runs only those and converts the others without outputs;
``--execute none`` runs nothing. Pages of notebooks that ran with random weights keep the red
banner from the setup cell *and* get a banner pinned to the top of the page.

Relative links between notebooks become links between pages; links to other files of the
repository point to GitHub. Slides load reveal.js from a CDN unless ``vendor`` fetched a local
copy (npm), in which case they work without internet (equations still need MathJax's CDN).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter, SlidesExporter
from nbformat.v4 import new_markdown_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "_build"
GITHUB = "https://github.com/nst-course/nst-course/blob/main/"
REVEAL_CDN = "https://unpkg.com/reveal.js@4.6.1"
VENDOR_PACKAGES = {"reveal.js": "4.6.1", "jquery": "3.7.1", "requirejs": "2.3.7"}
MARKER = ".nst-build"  # marks folders this script made, so it only ever cleans those
BANNER_TITLE = "VGG19 HAS RANDOM WEIGHTS"  # first line of nst_helpers.course's banner
PINNED_BANNER = (
    "&#9888; Built with RANDOM VGG19 weights (NST_WEIGHTS=random): the pictures on this page "
    "are NOT stylised. Run the notebook with the ImageNet weights for real results."
)
STYLE = """<style>
.nst-random-banner{position:sticky;top:0;z-index:1000;background:#ffebee;color:#b71c1c;
  border-bottom:3px solid #c62828;padding:8px 16px;font:bold 15px/1.4 sans-serif}
.nst-slides-banner{position:fixed;left:0;right:0;bottom:0;z-index:1000;background:#ffebee;
  color:#b71c1c;border-top:3px solid #c62828;padding:4px 12px;font:bold 14px sans-serif;
  text-align:center}
.nst-nav{font:14px sans-serif;margin:4px 0}
.reveal .jp-OutputArea-output img{max-height:78vh;width:auto}
</style>
"""
# a link target in Markdown, ](target) or ](target "title"), or in HTML, href="target"
LINK = re.compile(r"(\]\(|href=\"|src=\")(?!https?:|mailto:|#|data:)([^)\"\s#]+)(#[^)\"\s]*)?")


@dataclass
class Page:
    """One notebook (or Markdown file) of the course and where it goes."""

    source: Path  # the .ipynb (or .md) in the repository
    html: str  # file name of its page, e.g. "03_gram_matrices_and_style.html"
    key: str  # its path as links in the repository name it, e.g. "notebooks/01_x.ipynb"
    title: str = ""
    nb: nbformat.NotebookNode | None = None
    executed: bool = False
    random_weights: bool = False


# ---- finding and executing notebooks -----------------------------------------------------------


def _key(path: Path, notebooks: Path) -> str:
    """``path`` as the repository's links name it; ``notebooks`` stands for notebooks/."""
    path = path.resolve()
    if path.is_relative_to(notebooks):
        return "notebooks/" + path.relative_to(notebooks).as_posix()
    return path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name


def find_pages(notebooks: Path, teaching: Path | None, suffix: str) -> list[Page]:
    """The chapters in order, then the solutions notebook and the teaching guide if present."""
    chapters = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not chapters:
        raise SystemExit(f"build_site: no chapter notebooks ([0-9][0-9]_*.ipynb) in {notebooks}")
    sources = [*chapters, notebooks / "solutions" / "solutions.ipynb"]
    if teaching is not None:
        sources.append(teaching)
    return [
        Page(p, ("teaching" if p.suffix == ".md" else p.stem) + suffix, _key(p, notebooks))
        for p in sources
        if p.exists()
    ]


def wants_execution(page: Page, selection: str) -> bool:
    """``--execute``: "all", "none", or a comma list of chapter numbers, stems or "solutions"."""
    if page.source.suffix != ".ipynb" or selection == "none":
        return False
    if selection == "all":
        return True
    stem = page.source.stem
    return any(stem == s or stem.startswith(s + "_") for s in selection.split(","))


def execute(page: Page, cache: Path, weights: str, quick: bool, timeout: int) -> None:
    """Give ``page`` an executed notebook: the cached copy if still valid, else run it now."""
    text = page.source.read_bytes()
    key = {"source_sha256": hashlib.sha256(text).hexdigest(), "weights": weights, "quick": quick}
    cached = cache / page.source.name
    if cached.exists():
        nb = nbformat.read(cached, as_version=4)
        if nb.metadata.get("nst_build") == key:
            page.nb, page.executed = nb, True
            print(f"  {page.source.name}: reusing {cached}", flush=True)
            return
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.reads(text.decode("utf-8"), as_version=4)
    env = {**os.environ, "NST_WEIGHTS": weights, "NST_QUICK": "1" if quick else "0"}
    env.pop("MPLBACKEND", None)  # Agg hides figures; the kernel's inline backend shows them
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(page.source.parent)}},
    )
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        raise SystemExit(f"build_site: {page.source.name} failed while executing:\n{err}") from None
    nb.metadata["nst_build"] = key
    cache.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, cached)
    page.nb, page.executed = nb, True
    seconds = time.perf_counter() - start
    print(f"  {page.source.name}: executed in {seconds:.0f} s", flush=True)


def shows_random_banner(nb: nbformat.NotebookNode) -> bool:
    """True when any output carries the random-weights banner of ``nst_helpers.course.setup``."""
    return any(
        BANNER_TITLE in json.dumps(cell.get("outputs", []), ensure_ascii=False) for cell in nb.cells
    )


def load(page: Page, args: argparse.Namespace) -> None:
    """Fill ``page.nb`` (executed when asked, else the source as is) and ``page.title``."""
    if page.source.suffix == ".md":
        text = page.source.read_text(encoding="utf-8")
        page.nb = new_notebook(cells=[new_markdown_cell(text)])
    elif wants_execution(page, args.execute):
        execute(page, args.cache, args.weights, args.quick, args.timeout)
    else:
        page.nb = nbformat.read(page.source, as_version=4)
    page.random_weights = shows_random_banner(page.nb)
    first = next((c.source for c in page.nb.cells if c.cell_type == "markdown"), "")
    match = re.search(r"^#\s+(.+)$", first, re.MULTILINE)
    page.title = match.group(1).strip() if match else page.source.stem


# ---- turning notebooks into pages --------------------------------------------------------------


def rewrite_links(text: str, base: str, pages: dict[str, str], out: Path) -> str:
    """Point relative links of a file in folder ``base`` at pages, copied images or GitHub."""

    def fix(match: re.Match) -> str:
        prefix, target, fragment = match.group(1), match.group(2), match.group(3) or ""
        path = posixpath.normpath(posixpath.join(base, target))
        if path in pages:
            return prefix + pages[path] + fragment
        source = REPO / path
        if source.suffix.lower() in {".png", ".jpg", ".jpeg", ".gif", ".svg"} and source.exists():
            (out / "images").mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out / "images" / source.name)
            return prefix + "images/" + source.name + fragment
        if path.startswith("../"):
            return match.group(0)  # outside the repository: leave it alone
        kind = "tree" if source.is_dir() else "blob"
        return prefix + GITHUB.replace("/blob/", f"/{kind}/") + path + fragment

    return LINK.sub(fix, text)


def nav_cell(pages: list[Page], i: int, home: str) -> nbformat.NotebookNode:
    """A one-line navigation bar: course home, previous and next page."""
    links = [f"[Course home]({home})"]
    if i > 0:
        links.append(f"[← {pages[i - 1].title}]({pages[i - 1].html})")
    if i + 1 < len(pages):
        links.append(f"[{pages[i + 1].title} →]({pages[i + 1].html})")
    cell = new_markdown_cell('<div class="nst-nav">\n\n' + " · ".join(links) + "\n\n</div>")
    cell.metadata["slideshow"] = {"slide_type": "skip"}
    return cell


def _figure_slide(cell: nbformat.NotebookNode) -> bool:
    """A code cell on a sub-slide of its own whose output includes a picture."""
    own_slide = cell.metadata.get("slideshow", {}).get("slide_type") == "subslide"
    return own_slide and any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def page_notebook(
    page: Page, pages: list[Page], i: int, args, *, slides: bool
) -> nbformat.NotebookNode:
    """A copy of the page's notebook ready to export: links rewritten, navigation added."""
    nb = copy.deepcopy(page.nb)
    base = posixpath.dirname(page.key)
    targets = {p.key: p.html for p in pages}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(cell.source, base, targets, args.out)
        elif slides and _figure_slide(cell):
            # A figure's slide shows the figure, large; the code is on the page and in the notebook.
            cell.metadata["transient"] = {"remove_source": True}
    if not slides:
        nb.cells = [nav_cell(pages, i, "index.html"), *nb.cells, nav_cell(pages, i, "index.html")]
    nb.metadata["title"] = page.title
    return nb


def finish_html(body: str, random_weights: bool, *, slides: bool) -> str:
    """Add our styles and, for random-weight pages, a banner that stays in view."""
    body = body.replace("</head>", STYLE + "</head>", 1)
    if random_weights:
        css = "nst-slides-banner" if slides else "nst-random-banner"
        banner = f'<div class="{css}" role="alert">{PINNED_BANNER}</div>'
        body = re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + banner, body, count=1)
    return body


def index_markdown(pages: list[Page], args, *, slides: bool) -> str:
    """The table of contents: every chapter with its time and learning objectives."""
    kind = "slides" if slides else "pages"
    mode = "quick mode" if args.quick else "full size"
    lines = [
        "# nst-course: Neural Style Transfer, built chapter by chapter",
        "",
        "A course on Gatys, Ecker & Bethge, [*A Neural Algorithm of Artistic Style*]"
        "(https://arxiv.org/abs/1508.06576) (2015). Each chapter is a Jupyter notebook: open it "
        "in Colab (badge at its top) or locally to run and change the code. These "
        f"{kind} show the notebooks as run with `NST_WEIGHTS={args.weights}` in {mode}.",
        "",
    ]
    if any(p.random_weights for p in pages):
        lines += [
            "> **Built with random VGG19 weights.** Every picture here only shows that the code "
            "runs; none is a stylised result. Run the notebooks with the ImageNet weights "
            "(the default) for real results.",
            "",
        ]
    lines += ["## Chapters", ""]
    for page in pages:
        if page.source.suffix != ".ipynb" or page.source.stem == "solutions":
            continue
        first = page.nb.cells[0].source if page.nb.cells else ""
        minutes = re.search(r"[Aa]bout (\d+) minutes", first)
        ran = "" if page.executed else " (not executed)"
        lines.append(f"### [{page.title}]({page.html}){ran}")
        lines.append("")
        if minutes:
            lines += [f"*About {minutes.group(1)} minutes.*", ""]
        objectives = (
            first.split("Learning objectives", 1)[-1] if "Learning objectives" in first else ""
        )
        items = [line for line in objectives.splitlines() if line.startswith("- ")]
        lines += [*items, ""]
    extras = [p for p in pages if p.source.stem in ("solutions", "teaching")]
    if extras:
        lines += ["## For learners and lecturers", ""]
        about = {
            "solutions": "every exercise solved, each checked by `nst_helpers.checks`",
            "teaching": "timings, what to run live on a GPU, common mistakes",
        }
        lines += [f"- [{p.title}]({p.html}): {about[p.source.stem]}" for p in extras]
    return "\n".join(lines) + "\n"


def export(
    nb: nbformat.NotebookNode, exporter: HTMLExporter, random_weights: bool, *, slides: bool
) -> str:
    body, _ = exporter.from_notebook_node(nb)
    return finish_html(body, random_weights, slides=slides)


def prepare_out(out: Path) -> None:
    """Create ``out``; if an earlier run of this script made it, remove its old pages first."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SystemExit(f"build_site: {out} exists and was not made by this script; pick --out")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by scripts/build_site.py; deleted and rebuilt on every run\n")


def slides_exporter(out: Path, vendor: Path) -> SlidesExporter:
    """reveal.js slides: local copies from ``vendor`` when present, else the CDN."""
    exporter = SlidesExporter(
        reveal_scroll=True, reveal_theme="simple", reveal_number="c/t",
        reveal_width="1280", reveal_height="800", reveal_url_prefix=REVEAL_CDN,
    )  # fmt: skip
    if (vendor / "reveal.js" / "dist" / "reveal.js").exists():
        shutil.copytree(vendor / "reveal.js", out / "reveal.js")
        for name in ("jquery.min.js", "require.js"):
            shutil.copyfile(vendor / name, out / "reveal.js" / name)
        exporter.reveal_url_prefix = "reveal.js"
        exporter.jquery_url = "reveal.js/jquery.min.js"
        exporter.require_js_url = "reveal.js/require.js"
        print("  reveal.js, jQuery and RequireJS: local copies (work offline)")
    else:
        print(f"  reveal.js from {REVEAL_CDN}: the slides need internet (or run `vendor` once)")
    return exporter


def build(args: argparse.Namespace, *, slides: bool) -> list[Page]:
    """Write every page (or slide deck) and the index into ``args.out``."""
    suffix = ".slides.html" if slides else ".html"
    teaching = None if slides else args.teaching
    pages = find_pages(args.notebooks, teaching, suffix)
    if slides:
        pages = [p for p in pages if p.source.stem != "solutions"]
    print(f"build_site: {len(pages)} pages, NST_WEIGHTS={args.weights}, quick={args.quick}")
    for page in pages:
        load(page, args)
        if slides and not any("slideshow" in c.metadata for c in page.nb.cells):
            print(f"  warning: {page.source.name} has no slide metadata, so its deck is one long "
                  "slide: run `make notebooks` (scripts/notebooks.py) first")  # fmt: skip
    prepare_out(args.out)
    if slides:
        exporter = slides_exporter(args.out, args.vendor)
    else:
        exporter = HTMLExporter(template_name="lab")
        (args.out / ".nojekyll").write_text("")  # GitHub Pages: serve the files as they are
    for i, page in enumerate(pages):
        nb = page_notebook(page, pages, i, args, slides=slides)
        body = export(nb, exporter, page.random_weights, slides=slides)
        (args.out / page.html).write_text(body, encoding="utf-8")
    index = new_notebook(cells=[new_markdown_cell(index_markdown(pages, args, slides=slides))])
    index.metadata["title"] = "nst-course"
    page_exporter = HTMLExporter(template_name="lab")  # the index is a page, also for slides
    body = export(index, page_exporter, any(p.random_weights for p in pages), slides=False)
    (args.out / "index.html").write_text(body, encoding="utf-8")
    print(f"build_site: wrote {args.out / 'index.html'} and {len(pages)} {suffix} files")
    return pages


def vendor(folder: Path) -> None:
    """Fetch reveal.js, jQuery and RequireJS from the npm registry into ``folder`` (once)."""
    if shutil.which("npm") is None:
        raise SystemExit("build_site vendor: needs npm (e.g. apt-get install npm)")
    folder.mkdir(parents=True, exist_ok=True)
    specs = [f"{name}@{version}" for name, version in VENDOR_PACKAGES.items()]
    subprocess.run(
        ["npm", "pack", "--silent", *specs], cwd=folder, check=True, stdout=subprocess.DEVNULL
    )
    wanted = {
        "reveal.js": lambda n: n.startswith(("package/dist/", "package/plugin/")),
        "jquery": lambda n: n == "package/dist/jquery.min.js",
        "requirejs": lambda n: n == "package/require.js",
    }
    for name, version in VENDOR_PACKAGES.items():
        tgz = folder / f"{name}-{version}.tgz"
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and wanted[name](m.name)]
            for member in members:
                member.name = member.name.removeprefix("package/")
                if name == "reveal.js":
                    member.name = "reveal.js/" + member.name
                else:
                    member.name = Path(member.name).name
                tar.extract(member, folder, filter="data")
        tgz.unlink()
    print(f"build_site: reveal.js {VENDOR_PACKAGES['reveal.js']} and friends in {folder}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["site", "slides", "vendor"])
    parser.add_argument("--notebooks", type=Path, default=REPO / "notebooks")
    parser.add_argument("--out", type=Path, help="default: _site, or slides/ for slides")
    parser.add_argument("--cache", type=Path, default=BUILD / "executed", help="executed copies")
    parser.add_argument("--vendor", type=Path, default=BUILD / "vendor", help="local reveal.js")
    parser.add_argument("--teaching", type=Path, default=REPO / "docs" / "teaching.md")
    parser.add_argument(
        "--execute", default="all", help='"all", "none" or e.g. "01,solutions" (default: all)'
    )
    parser.add_argument(
        "--weights",
        default=None,
        help="imagenet, hed, random or a file (default: the library's, i.e. NST_WEIGHTS, else "
        "ImageNet where its file is here, else HED's trained VGG16 features offline)",
    )
    parser.add_argument(
        "--quick",
        action=argparse.BooleanOptionalAction,
        default=os.environ.get("NST_QUICK", "1").strip().lower() not in ("0", "false", "no", "off"),
        help="small images and few steps (default: NST_QUICK, else on)",
    )
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    args = parser.parse_args(argv)
    if args.weights is None:
        from nst_helpers.features import default_weights

        args.weights = default_weights()
    if args.out is None:
        args.out = REPO / ("slides" if args.what == "slides" else "_site")
    args.notebooks, args.out = args.notebooks.resolve(), args.out.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    """Build what the command line asks for."""
    args = parse_args(argv)
    if args.what == "vendor":
        vendor(args.vendor)
    else:
        build(args, slides=args.what == "slides")
    return 0


if __name__ == "__main__":
    sys.exit(main())
