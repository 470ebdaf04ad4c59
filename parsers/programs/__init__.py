"""Whole-program formal languages read as data: Logic-LM's logic programs, CSP and Z3 DSL, SMT-LIB
written by a model, equations for math problems, and the whitelisted expression grammar they share."""
