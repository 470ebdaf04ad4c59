"""Logic-LM's Z3-flavoured DSL (AR-LSAT), interpreted as data into SMT-LIB — never run as Python.

    # Declarations
    children = EnumSort([Fred, Juan, Marc])
    lockers = EnumSort([1, 2, 3, 4, 5])          (integer members: an integer domain)
    assigned = Function([children] -> [lockers])
    # Constraints
    ForAll([c:children], assigned(c) != 3) ::: gloss
    # Options
    Question ::: Which one of the following must be true?
    is_valid(assigned(Fred) == 2) ::: (A)

Option checks: ``is_valid``, ``is_sat``, ``is_unsat``, ``is_accurate_list([...])`` and
``is_exception(check(...))`` (the option that fails the check). An EnumSort whose members all
belong to sorts declared before it is a subset of that sort (Logic-LM's rule). Constraint lines
under ``# Declarations`` (ranges of integer functions, typically) are kept as constraints; Logic-LM
drops them silently.
"""

from __future__ import annotations

import re

from parsers.errors import FormalizationError, LocatedError, locate
from parsers.programs.expr import Arrow, Call, ListLit, Name, Node, Num, Unary, parse_statement
from parsers.programs.smt_build import BOOL, INT, Domain, ElabError, Env, Function, elaborate_bool, function_symbol, member_symbol, sort_symbol
from parsers.programs.smt_program import Query, SmtProgram

__all__ = ["parse_z3_dsl", "looks_like_z3_dsl", "OPTION_CHECKS"]

_SECTION = re.compile(r"^\s*#+\s*(declarations|constraints|options)\s*:?\s*$", re.I)
_LABEL = re.compile(r"^\s*\(?([A-J])\)|^\s*\(?([A-J])\s*$")
OPTION_CHECKS = {"is_valid": "valid", "is_sat": "sat", "is_unsat": "unsat", "is_accurate_list": "accurate_list"}
MAX_MEMBERS = 200


def looks_like_z3_dsl(text: str) -> bool:
    return bool(re.search(r"^\s*#+\s*declarations\s*:?\s*$", text, re.I | re.M)) and \
        bool(re.search(r"^\s*#+\s*options\s*:?\s*$", text, re.I | re.M))


class _Reader:
    def __init__(self) -> None:
        self.env = Env()
        self.decls: list[str] = []
        self.asserts: list[str] = []
        self.ranges: list[str] = []
        self.queries: list[Query] = []
        self.errors: list[LocatedError] = []

    def err(self, node: Node, message: str, hint: str = "") -> FormalizationError:
        return FormalizationError(locate("parse", message, text=self.env.text, line=node.line, column=node.col,
                                         where=self.env.where, hint=hint))

    # -- declarations
    def declaration(self, target: str | None, node: Node) -> None:
        if target is None:  # a constraint written among the declarations
            self.asserts.append(elaborate_bool(node, self.env))
            return
        if target in self.env.domains or target in self.env.functions or target in self.env.members:
            raise self.err(node, f"{target!r} is declared twice")
        if isinstance(node, Call) and node.func in ("EnumSort", "IntSort"):
            self.sort(target, node)
        elif isinstance(node, Call) and node.func == "Function":
            self.function(target, node)
        else:
            raise self.err(node, f"cannot declare {target!r} this way",
                           hint="declarations are name = EnumSort([...]), IntSort([...]) or Function([sorts] -> [sort])")

    def sort(self, name: str, node: Call) -> None:
        if len(node.args) != 1 or not isinstance(node.args[0], ListLit) or not node.args[0].items:
            raise self.err(node, f"{node.func} takes one non-empty list, e.g. {node.func}([a, b, c])")
        items = node.args[0].items
        if len(items) > MAX_MEMBERS:
            raise self.err(node, f"more than {MAX_MEMBERS} members")
        names = []
        for it in items:
            if isinstance(it, Num) and "." not in it.text:
                names.append(it.text)
            elif isinstance(it, Name):
                names.append(it.id)
            elif isinstance(it, Unary) and it.op == "-" and isinstance(it.operand, Num) and "." not in it.operand.text:
                names.append("-" + it.operand.text)
            else:
                raise self.err(it, "a member is a name or an integer")
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise self.err(node, f"member {dup!r} is listed twice")
        ints = [n.lstrip("-").isdigit() for n in names]
        if all(ints) or node.func == "IntSort":
            if not all(ints):
                raise self.err(node, "IntSort members must be integers")
            self.env.domains[name] = Domain(name, "int", names)
            return
        if any(ints):
            raise self.err(node, "mix of integer and named members", hint="use only names or only integers")
        known = [n for n in names if n in self.env.members]
        if known and len(known) == len(names):  # a subset of sorts declared before
            bases = {self.env.members[n] for n in names}
            if len(bases) > 1:
                raise self.err(node, f"members of {name!r} come from different sorts")
            base = bases.pop()[5:]
            self.env.domains[name] = Domain(name, "enum", names, base=base)
            return
        if known:
            raise self.err(node, f"member {known[0]!r} already belongs to sort {self.env.members[known[0]][5:]!r}",
                           hint="give each member one sort, or list all of a sort's members in a subset")
        for n in names:
            if n in self.env.domains or n in self.env.functions:
                raise self.err(node, f"member {n!r} has the name of a declared domain or function")
        dom = Domain(name, "enum", names)
        self.env.domains[name] = dom
        for n in names:
            self.env.members[n] = dom.type
        self.decls.append(f"(declare-datatype {sort_symbol(dom.type)} ({' '.join(f'({member_symbol(n)})' for n in names)}))")

    def _sort_of(self, node: Node) -> tuple[str, Domain | None]:
        if isinstance(node, ListLit) and len(node.items) == 1:
            node = node.items[0]
        if isinstance(node, Call) and not node.args and node.func in ("BoolSort", "IntSort"):
            node = Name(node.func, line=node.line, col=node.col)
        if not isinstance(node, Name):
            raise self.err(node, "expected a sort name (a declared domain, int or bool)")
        if node.id in ("bool", "Bool", "BoolSort"):
            return BOOL, None
        if node.id in ("int", "Int", "IntSort"):
            return INT, None
        if node.id not in self.env.domains:
            raise self.err(node, f"unknown sort {node.id!r}", hint=f"declared: {', '.join(self.env.domains) or 'none'}, int, bool")
        dom = self.env.domains[node.id]
        return dom.type, dom

    def function(self, name: str, node: Call) -> None:
        if len(node.args) == 1 and isinstance(node.args[0], Arrow):
            arrow = node.args[0]
            arg_nodes = arrow.left.items if isinstance(arrow.left, ListLit) else (arrow.left,)
            result_node = arrow.right
        elif len(node.args) >= 2:  # legacy Function(A, B, Result)
            arg_nodes, result_node = node.args[:-1], node.args[-1]
        else:
            raise self.err(node, "expected Function([argument sorts] -> [result sort])")
        args = [self._sort_of(a) for a in arg_nodes]
        result, rdom = self._sort_of(result_node)
        self.env.functions[name] = Function(name, [t for t, _ in args], result, rdom)
        arg_sorts = " ".join(sort_symbol(t) for t, _ in args)
        self.decls.append(f"(declare-fun {function_symbol(name)} ({arg_sorts}) {sort_symbol(result)})")
        if rdom is not None and (rdom.kind == "int" or rdom.base):
            # an integer (or subset) result stays among its domain's members, for every argument tuple
            tuples = [[]]
            for t, dom in args:
                members = dom.terms() if dom is not None else None
                if members is None:
                    return  # over all integers: cannot enumerate; the domain is left open
                tuples = [tu + [m] for tu in tuples for m in members]
            for tu in tuples:
                app = f"({function_symbol(name)} {' '.join(a for a, _ in tu)})" if tu else function_symbol(name)
                alts = " ".join(f"(= {app} {v})" for v, _ in rdom.terms())
                self.ranges.append(f"(or {alts})")

    # -- options
    def option(self, node: Node, raw: str, index: int) -> None:
        gloss = raw.split(":::", 1)[1] if ":::" in raw else ""
        m = _LABEL.search(gloss)
        label = (m.group(1) or m.group(2)) if m else "ABCDEFGHIJ"[index]
        negate = False
        if isinstance(node, Call) and node.func == "is_exception":
            if len(node.args) != 1:
                raise self.err(node, "is_exception takes one option check, e.g. is_exception(is_sat(...))")
            negate, node = True, node.args[0]
        if not isinstance(node, Call) or node.func not in OPTION_CHECKS:
            what = node.func if isinstance(node, Call) else "this expression"
            raise self.err(node, f"{what!r} is not an option check",
                           hint="wrap each option in is_valid(...), is_sat(...), is_unsat(...), is_accurate_list([...]) or is_exception(...)")
        check = OPTION_CHECKS[node.func]
        if len(node.args) != 1:
            raise self.err(node, f"{node.func} takes one argument")
        arg = node.args[0]
        if check == "accurate_list":
            if not isinstance(arg, ListLit) or not arg.items:
                raise self.err(arg, "is_accurate_list takes a non-empty list of conditions")
            terms = [elaborate_bool(t, self.env) for t in arg.items]
        else:
            terms = [elaborate_bool(arg, self.env)]
        self.queries.append(Query(label=label, check=check, negate=negate, terms=terms, source=raw.strip()))


def parse_z3_dsl(text: str) -> SmtProgram:
    """Raises FormalizationError with every located error found."""
    r = _Reader()
    section = None
    seen: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), 1):
        m = _SECTION.match(raw)
        if m:
            section = m.group(1).lower()
            seen.add(section)
            continue
        body = raw.split(":::", 1)[0]
        body = re.sub(r"\s#.*$", "", body).rstrip()  # a trailing Python-style comment
        if not body.strip() or body.strip().startswith(("```", "#")) or section is None:
            continue
        if section == "options" and re.match(r"^\s*question\b", body, re.I):
            continue
        col = len(body) - len(body.lstrip()) + 1
        where = f"output line {lineno}"
        r.env.text, r.env.where = raw, where
        try:
            target, node = parse_statement(body.strip(), col=col, where=where, text=raw, allow_assign=section == "declarations")
            if section == "declarations":
                r.declaration(target, node)
            elif section == "constraints":
                r.asserts.append(elaborate_bool(node, r.env))
            else:
                r.option(node, raw, len(r.queries))
        except FormalizationError as exc:
            r.errors += exc.errors
        except ElabError as exc:
            r.errors.append(exc.error)
    for needed in ("declarations", "constraints", "options"):
        if needed not in seen:
            r.errors.append(locate("parse", f"no '# {needed.capitalize()}' section in the program", where="output",
                                   hint="answer with # Declarations, # Constraints and # Options sections"))
    if "options" in seen and not r.queries and not r.errors:
        r.errors.append(locate("parse", "the '# Options' section has no option checks", where="output"))
    if r.errors:
        raise FormalizationError(r.errors)
    script = "\n".join(r.decls + [f"(assert {a})" for a in r.ranges + r.asserts])
    return SmtProgram(script=script, queries=r.queries, assertions=len(r.asserts))
