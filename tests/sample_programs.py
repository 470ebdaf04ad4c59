"""Small programs several test modules use (tests/ is on sys.path through its conftest)."""

# Ann, Bo and Cy take slots 1-3, one each; Ann before Bo; Cy not in slot 1. Must be true: A.
DSL = """# Declarations
people = EnumSort([Ann, Bo, Cy])
slots = EnumSort([1, 2, 3])
slot = Function([people] -> [slots])

# Constraints
Distinct([p:people], slot(p)) ::: one person per slot
slot(Ann) < slot(Bo) ::: Ann is earlier than Bo
slot(Cy) != 1 ::: Cy is not in slot 1

# Options
Question ::: Which one of the following must be true?
is_valid(slot(Ann) == 1) ::: (A)
is_valid(slot(Bo) == 1) ::: (B)
is_valid(slot(Cy) == 1) ::: (C)
"""
