"""First-order logic: the AST, the grammar and its reader, printers, the lenient reader for
human-written gold FOL, and the signature pass."""
