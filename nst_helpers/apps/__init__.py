"""The programs built on the engine: the ``nst`` command line (``cli``) and the notebook studio
(``studio``). They only read ``StyleConfig`` and call the engine; nothing imports from here."""
