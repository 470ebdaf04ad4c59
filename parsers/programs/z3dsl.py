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

Variants the program itself fixes are read, each noted: z3py-style declarations
(``EnumSort('name', ['a', 'b'])``, ``Function('f', A, B)``, ``x = Int('x')``); lower-case
built-ins (``implies(``); ``If(a, b)`` with two arguments (an implication); an option check
whose name says how to judge (``is_possible`` → sat, ``is_necessary`` → valid) and one whose
name says only "true" (``is_true``, ``is_justified``) or a bare labelled condition, judged the
way the question asks ("must be true" → valid); a check with two arguments (a condition, then
the claim under it); an unlabelled condition among the options (the question's own "if …"),
kept as a constraint; English sentences among the lines, skipped.
"""

from __future__ import annotations

import re

from parsers.errors import MAX_ERRORS, FormalizationError, LocatedError, locate, stopped_reading
from parsers.programs.expr import Arrow, Call, ListLit, Name, Node, Num, Unary, parse_statement
from parsers.programs.smt_build import BOOL, INT, MAX_EXPANSION, Domain, ElabError, Env, Function, elaborate_bool, function_symbol, member_symbol, sort_symbol
from parsers.programs.smt_program import Query, SmtProgram, question_check

__all__ = ["parse_z3_dsl", "looks_like_z3_dsl", "OPTION_CHECKS"]

# One line each, possessive runs (``*+``) where what follows cannot start with them: nothing here
# backtracks, so a program is read in time linear in its length.
_SECTION = re.compile(r"^\s*+#*+\s*+(declarations|constraints|options)\s*+:?\s*+$", re.I)  # '#' may be lost
_LABEL = re.compile(r"^\s*+\(?([A-Z])\)|^\s*+\(?([A-Z])\s*+$|^\s*+(?:option\s++)?\(?([A-Z])[.:]", re.I)
_LOOKS = tuple(re.compile(rf"^\s*+#*+\s*+{s}\s*+:?\s*+$", re.I) for s in ("declarations", "options"))
_COMMENT = re.compile(r"\s#.*$")
_QUESTION = re.compile(r"^\s*+question\b", re.I)
OPTION_CHECKS = {"is_valid": "valid", "is_sat": "sat", "is_unsat": "unsat", "is_accurate_list": "accurate_list"}
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
MAX_MEMBERS = 200
# An invented check's name, read word by word for how it judges; names that only say "true"
# follow the question. A name with "not"/"false" in it, or with none of these words, stays an error.
_CHECK_WORDS = (("unsat", {"impossible", "cannot", "unsat", "unsatisfiable", "inconsistent", "never"}),
                ("sat", {"possible", "possibly", "could", "can", "may", "might", "sat", "satisfiable", "consistent"}),
                ("valid", {"must", "necessary", "necessarily", "valid", "always", "entailed", "follows", "implied",
                           "guaranteed", "certain"}),
                ("question", {"true", "correct", "justified", "holds", "right", "answer", "option", "accurate",
                              "supported", "satisfied"}))
_PROSE_OPS = re.compile(r"[()=<>!\[\]]")
_QUOTED_NAME = re.compile(r"\b(EnumSort|Function|Int|Bool|Const|IntSort)\(\s*(['\"])[^'\"\n]*\2\s*,?\s*")
_QUOTED = re.compile(r"(['\"])(-?\w+)\1")
_TUPLE_TARGET = re.compile(r"^\s*+(\w++)\s*+,\s*+\(?[\w\s,]*+\)?\s*+=\s*+(?=EnumSort\()")


def looks_like_z3_dsl(text: str) -> bool:
    lines = [line for line in text.splitlines() if line and not line.isspace()]
    return all(any(p.match(line) for line in lines) for p in _LOOKS)


class _Reader:
    def __init__(self, question: str = "") -> None:
        self.question = question
        self.notes: list[str] = []
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
        elif isinstance(node, Call) and node.func in ("Int", "Bool", "Const") and not (node.args and node.func != "Const"):
            if node.func == "Const" and len(node.args) != 1:
                raise self.err(node, "Const takes the constant's sort, e.g. x = Const('x', people)")
            result, rdom = (INT, None) if node.func == "Int" else (BOOL, None) if node.func == "Bool" else self._sort_of(node.args[0])
            self.env.functions[target] = Function(target, [], result, rdom)
            self.decls.append(f"(declare-fun {function_symbol(target)} () {sort_symbol(result)})")
            if rdom is not None and (rdom.kind == "int" or rdom.base):
                self.ranges.append(f"(or {' '.join(f'(= {function_symbol(target)} {v})' for v, _ in rdom.terms())})")
        else:
            raise self.err(node, f"cannot declare {target!r} this way",
                           hint="declarations are name = EnumSort([...]), IntSort([...]), Function([sorts] -> [sort]) or Int('name')")

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
            if any(dom is None for _, dom in args):
                return  # over all integers: cannot enumerate; the domain is left open
            size = len(rdom.members)  # one (= app v) per result value, per argument tuple
            for _, dom in args:
                size *= len(dom.members)
            if size > MAX_EXPANSION:  # Function([d, d, d] -> [r]) over 50 members: a 240 MB script, 740 MB here
                raise self.err(node, f"the range constraints of {name} expand to more than {MAX_EXPANSION} terms",
                               hint="declare the function over fewer or smaller domains")
            tuples = [[]]
            for _, dom in args:
                tuples = [tu + [m] for tu in tuples for m in dom.terms()]
            for tu in tuples:
                app = f"({function_symbol(name)} {' '.join(a for a, _ in tu)})" if tu else function_symbol(name)
                alts = " ".join(f"(= {app} {v})" for v, _ in rdom.terms())
                self.ranges.append(f"(or {alts})")

    # -- options
    def option(self, node: Node, raw: str, index: int) -> None:
        gloss = raw.split(":::", 1)[1] if ":::" in raw else ""
        m = _LABEL.search(gloss)
        label = next((g for g in m.groups() if g), None).upper() if m else None
        negate = False
        if isinstance(node, Call) and node.func == "is_exception":
            if len(node.args) != 1:
                raise self.err(node, "is_exception takes one option check, e.g. is_exception(is_sat(...))")
            negate, node = True, node.args[0]
        check, args = self._check_of(node, labelled=label is not None)
        if check is None:  # an unlabelled condition among the options: the question's own "if …"
            self.asserts.append(elaborate_bool(node, self.env))
            self.notes.append(f"{self.env.where}: a condition among the options without a label, kept as a constraint")
            return
        if label is None:
            if index >= len(LETTERS):
                raise self.err(node, f"more than {len(LETTERS)} options", hint="one check per option, labelled ::: (A)")
            label = LETTERS[index]
        if len(args) == 2 and check != "accurate_list":  # (condition, claim): the claim under the condition
            cond, claim = (elaborate_bool(a, self.env) for a in args)
            terms = [f"(=> {cond} {claim})" if check == "valid" else f"(and {cond} {claim})"]
            self.notes.append(f"{self.env.where}: {node.func}(condition, claim) read as the claim under the condition")
        elif len(args) != 1:
            raise self.err(node, f"{getattr(node, 'func', 'the check')} takes one argument")
        elif check == "accurate_list":
            arg = args[0]
            if not isinstance(arg, ListLit) or not arg.items:
                raise self.err(arg, "is_accurate_list takes a non-empty list of conditions")
            terms = [elaborate_bool(t, self.env) for t in arg.items]
        else:
            terms = [elaborate_bool(args[0], self.env)]
        if check == "question":
            check, flip = question_check(self.question)
            negate = negate != flip
        self.queries.append(Query(label=label, check=check, negate=negate, terms=terms, source=raw.strip()))

    def _check_of(self, node: Node, labelled: bool) -> tuple[str | None, tuple[Node, ...]]:
        """How an option line is judged, and the check's arguments."""
        if isinstance(node, Call) and node.func in OPTION_CHECKS:
            return OPTION_CHECKS[node.func], node.args
        if isinstance(node, Call) and node.func.lower().startswith(("is_", "check")) and node.func not in self.env.functions:
            words = set(re.findall(r"[a-z]+", node.func.lower()))
            for check, known in _CHECK_WORDS if not words & {"not", "false", "no"} else ():
                if words & known:
                    how = f"the question asks ({question_check(self.question)[0]})" if check == "question" else check
                    self.notes.append(f"{self.env.where}: option check {node.func!r} read as {how}")
                    return check, node.args
        elif isinstance(node, Call) and node.func in self.env.functions or not isinstance(node, Call) or node.func in (
                "And", "Or", "Not", "Implies", "ForAll", "Exists", "Distinct", "If"):
            if labelled:
                self.notes.append(f"{self.env.where}: a bare option, judged the way the question asks "
                                  f"({question_check(self.question)[0]})")
                return "question", (node,)
            return None, (node,)
        raise self.err(node, f"{node.func!r} is not an option check",
                       hint="wrap each option in is_valid(...), is_sat(...), is_unsat(...), is_accurate_list([...]) or is_exception(...)")


def _z3py_declaration(body: str) -> str:
    """``EnumSort('people', ['a', 'b'])`` → ``EnumSort([a, b])``; ``P, (a, b) = EnumSort(…)`` → ``P = EnumSort(…)``."""
    body = _TUPLE_TARGET.sub(lambda m: f"{m.group(1)} = ", body)
    body = _QUOTED_NAME.sub(lambda m: f"{m.group(1)}(", body)
    return _QUOTED.sub(lambda m: m.group(2), body)


def _is_prose(body: str) -> bool:
    return not _PROSE_OPS.search(body) and len(re.findall(r"[A-Za-z]+", body)) >= 3


def parse_z3_dsl(text: str, question: str = "") -> SmtProgram:
    """Raises FormalizationError with every located error found. ``question`` decides how an
    option check that does not say how to judge is judged."""
    r = _Reader(question)
    prose = 0
    section = None
    seen: set[str] = set()
    stopped = False
    for lineno, raw in enumerate(text.splitlines(), 1):
        if len(r.errors) >= MAX_ERRORS:
            r.errors.append(stopped_reading(f"output line {lineno}"))
            stopped = True  # what follows was not read: no "missing section" errors either
            break
        m = _SECTION.match(raw)
        if m:
            section = m.group(1).lower()
            seen.add(section)
            continue
        body = raw.split(":::", 1)[0]
        body = _COMMENT.sub("", body, count=1).rstrip()  # a trailing Python-style comment
        if not body.strip() or body.strip().startswith(("```", "#")) or section is None:
            continue
        if section == "options" and _QUESTION.match(body):
            continue
        if _is_prose(body):
            prose += 1
            continue
        if section == "declarations" and ("'" in body or '"' in body):
            z3py = _z3py_declaration(body)
            if z3py != body:
                r.notes.append(f"output line {lineno}: z3py-style declaration read as Logic-LM's")
                body = z3py
        col = len(body) - len(body.lstrip()) + 1
        where = f"output line {lineno}"
        r.env.text, r.env.where = raw, where
        try:
            target, node = parse_statement(body.strip(), col=col, where=where, text=raw,
                                           allow_assign=section == "declarations", notes=r.notes)
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
        if needed not in seen and not stopped:
            r.errors.append(locate("parse", f"no '# {needed.capitalize()}' section in the program", where="output",
                                   hint="answer with # Declarations, # Constraints and # Options sections"))
    if "options" in seen and not r.queries and not r.errors:
        r.errors.append(locate("parse", "the '# Options' section has no option checks", where="output"))
    if r.errors:
        raise FormalizationError(r.errors)
    labels = [q.label for q in r.queries]
    if len(set(labels)) != len(labels):
        dup = next(x for x in labels if labels.count(x) > 1)
        raise FormalizationError(locate("parse", f"option {dup} is checked twice", where="options",
                                        hint="one check per option, labelled ::: (A), ::: (B), …"))
    if prose:
        r.notes.append(f"{prose} English line{'s' * (prose > 1)} in the program skipped")
    r.notes.extend(f"{n}" for n in sorted(r.env.notes))
    script = "\n".join(r.decls + [f"(assert {a})" for a in r.ranges + r.asserts])
    return SmtProgram(script=script, queries=r.queries, assertions=len(r.asserts), notes=r.notes, printed_by_us=True)
