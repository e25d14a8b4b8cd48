"""What every layer leans on and no chapter teaches: safe file writes and reads, sample data,
environment switches, and the one mechanism that stops a long run between steps."""
