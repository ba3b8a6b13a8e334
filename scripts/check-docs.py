#!/usr/bin/env python3
"""Checks the documentation's code and coverage; scripts/docs runs it.

    scripts/check-docs.py snippets
        Every ```swift block in README.md and in the DocC articles must appear, line for line,
        inside a snippet region of Tests/DocSnippetTests/*.swift (for the Integrations
        modules' pages and the README's Integrations section, of
        Integrations/Tests/*/DocSnippets.swift, which the Integrations build compiles):

            // snippet: <name>
            ...code...
            // end snippet

        The region is compared after removing its common indentation, and the block may be any
        run of whole lines in it, so a region can set things up before the shown lines and use
        its values after them (to keep the compiler free of "never used" warnings). A line written
        `//! import Foo` in a region stands for `import Foo` in the docs: Swift allows imports
        only at the top of a file, so the file imports the module there instead. The test target
        compiles every region, so a renamed API breaks the build instead of the docs.

        A block whose first line is `// Package.swift` is an excerpt of a user's manifest, which
        cannot be compiled in a test target; instead, every `.product(name: "...")` it names must
        be a library product of the root Package.swift.

    scripts/check-docs.py tests
        Every test the docs name in inline code (README.md and the DocC articles, outside code
        blocks) must exist: `Class.testName` must be a test method of the XCTestCase subclass
        `Class`, declared in Tests/<Target>/<Class>.swift; a bare `testName` must be a test method
        of some class; a bare `SomethingTests` must be a test class. So a renamed or deleted test
        cannot leave the docs pointing at nothing.

    scripts/check-docs.py curation <symbol-graph-dir> [Integrations]
        Every top-level public symbol of each module (from its symbol graph) must be listed as
        `- ``Symbol``` under `## Topics` on that module's landing page,
        Sources/<Module>/<Module>.docc/<Module>.md, so
        that a new public type cannot slip into DocC's automatic "Other" groups unnoticed. With
        `Integrations`, the same for the Integrations package's four modules.
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SNIPPET_DIR = ROOT / "Tests" / "DocSnippetTests"
MODULES = ["DBPool", "DBPoolTesting", "DBPoolSQLite", "DBPoolPostgres"]
INTEGRATIONS_MODULES = ["DBPoolPostgresNIO", "DBPoolLogging", "DBPoolMetrics", "DBPoolServiceLifecycle"]


def doc_files():
    yield ROOT / "README.md"
    yield from sorted(ROOT.glob("Sources/*/*.docc/**/*.md"))
    yield from sorted(ROOT.glob("Integrations/Sources/*/*.docc/**/*.md"))


def snippet_files():
    """The root package's snippet target, and the Integrations package's (its blocks import
    modules the root package may not depend on); building each target compiles its regions."""
    yield from sorted(SNIPPET_DIR.glob("*.swift"))
    yield from sorted(ROOT.glob("Integrations/Tests/*/DocSnippets.swift"))


def swift_blocks(path):
    """(line number, text) of each ```swift block."""
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```swift":
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            blocks.append((start, body))
        i += 1
    return blocks


def dedent(lines):
    indents = [len(l) - len(l.lstrip(" ")) for l in lines if l.strip()]
    cut = min(indents) if indents else 0
    return [l[cut:] if l.strip() else "" for l in lines]


def snippet_regions():
    """name -> (file, lines as the docs show them)."""
    regions, problems = {}, []
    for path in snippet_files():
        lines = path.read_text().splitlines()
        name, body, opened = None, [], 0
        for number, line in enumerate(lines, 1):
            stripped = line.strip()
            match = re.fullmatch(r"// snippet: (\S+)", stripped)
            if match:
                if name:
                    problems.append(f"{path.name}:{number}: snippet '{match[1]}' opens inside '{name}'")
                name, body, opened = match[1], [], number
            elif stripped == "// end snippet":
                if not name:
                    problems.append(f"{path.name}:{number}: '// end snippet' with no open snippet")
                    continue
                if name in regions:
                    problems.append(f"{path.name}:{opened}: snippet name '{name}' is used twice")
                regions[name] = (path, dedent(body))
                name = None
            elif name:
                if stripped.startswith("//! "):
                    shown = stripped[4:]
                    if not shown.startswith("import "):
                        problems.append(f"{path.name}:{number}: '//! ' may only stand for an import line")
                    line = line[: len(line) - len(line.lstrip())] + shown
                body.append(line)
        if name:
            problems.append(f"{path.name}:{opened}: snippet '{name}' has no '// end snippet'")
    # A test file named *ExampleTests.swift is an article's example, compiled and run as a whole
    # (DBPoolTesting's TestingYourCode article is cut from one); its blocks may come from anywhere in it.
    for path in sorted((ROOT / "Tests").glob("*/*ExampleTests.swift")):
        regions[f"file:{path.name}"] = (path, path.read_text().splitlines())
    return regions, problems


def contains(region, block):
    block = [l.rstrip() for l in dedent(block)]
    region = [l.rstrip() for l in region]
    n = len(block)
    return any(region[i:i + n] == block for i in range(len(region) - n + 1))


def check_snippets():
    regions, problems = snippet_regions()
    products = set(re.findall(r'\.library\(name: "([^"]+)"', (ROOT / "Package.swift").read_text()))
    blocks = 0
    for path in doc_files():
        for start, block in swift_blocks(path):
            blocks += 1
            if block and block[0].strip() == "// Package.swift":
                for name in re.findall(r'\.product\(name: "([^"]+)"', "\n".join(block)):
                    if name not in products:
                        problems.append(f"{path.relative_to(ROOT)}:{start}: manifest excerpt names product '{name}', "
                                        f"which the root Package.swift does not have ({', '.join(sorted(products))})")
                continue
            if not any(contains(lines, block) for _, lines in regions.values()):
                shown = "\n".join("    " + l for l in block)
                problems.append(
                    f"{path.relative_to(ROOT)}:{start}: this ```swift block is in no snippet region of "
                    f"Tests/DocSnippetTests (copy it there between '// snippet: <name>' and '// end snippet'):\n{shown}"
                )
    # The README links into the catalogs by relative path; a renamed article must not leave a
    # dead link behind.
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", readme):
        if not (ROOT / target).exists():
            problems.append(f"README.md links to {target}, which does not exist")
    for problem in problems:
        print("error:", problem, file=sys.stderr)
    if not problems:
        print(f"doc snippets: all {blocks} swift blocks are compiled ({len(regions)} snippet regions)")
    return not problems


def test_index():
    """class name -> (file, set of test method names), for every XCTestCase subclass in Tests/."""
    index, current = {}, None
    for path in sorted((ROOT / "Tests").glob("**/*.swift")):
        current = None
        for line in path.read_text().splitlines():
            declared = re.match(r"\s*(?:(?:final|public|open)\s+)*class\s+(\w+)\s*:\s*XCTestCase\b", line)
            extended = re.match(r"extension\s+(\w+)\b", line)
            if declared:
                current = declared[1]
                index.setdefault(current, (path, set()))
            elif extended:
                current = extended[1] if extended[1] in index else None
            elif current:
                test = re.match(r"\s*(?:@\w+\s+)*func\s+(test\w+)\s*\(", line)
                if test:
                    index[current][1].add(test[1])
    return index


def check_tests():
    index = test_index()
    every_test = set().union(*(tests for _, tests in index.values()))
    problems, named = [], 0
    for path in doc_files():
        text = re.sub(r"^```.*?^```", "", path.read_text(), flags=re.MULTILINE | re.DOTALL)
        for token in re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)`", text):
            where = path.relative_to(ROOT)
            qualified = re.fullmatch(r"(\w+Tests)\.(test\w+)", token)
            if qualified:
                named += 1
                cls, test = qualified[1], qualified[2]
                if cls not in index:
                    problems.append(f"{where}: names {token}, but there is no test class {cls}")
                elif test not in index[cls][1]:
                    problems.append(f"{where}: names {token}, but {cls} has no test {test}")
                elif index[cls][0].name != f"{cls}.swift":
                    problems.append(f"{where}: names {token}, but {cls} is in {index[cls][0].relative_to(ROOT)}, not {cls}.swift")
            elif re.fullmatch(r"test[A-Z]\w*", token):
                named += 1
                if token not in every_test:
                    problems.append(f"{where}: names the test {token}, which no test class has")
            elif re.fullmatch(r"[A-Z]\w*Tests", token):
                named += 1
                if token not in index:
                    problems.append(f"{where}: names the test class {token}, which does not exist")
    for problem in problems:
        print("error:", problem, file=sys.stderr)
    if not problems:
        print(f"doc tests: all {named} tests and test classes the docs name exist")
    return not problems


def check_curation(graph_dir, package="."):
    problems = []
    modules = MODULES if package == "." else INTEGRATIONS_MODULES
    for module in modules:
        graph = pathlib.Path(graph_dir) / module / f"{module}.symbols.json"
        landing = ROOT / package / "Sources" / module / f"{module}.docc" / f"{module}.md"
        if not graph.exists() or not landing.exists():
            problems.append(f"{module}: missing {graph if not graph.exists() else landing}")
            continue
        text = landing.read_text()
        topics = text.split("\n## Topics", 1)[1] if "\n## Topics" in text else ""
        curated = set(re.findall(r"^- ``([^`/]+)``\s*$", topics, re.MULTILINE))
        symbols = json.loads(graph.read_text())["symbols"]
        top = sorted({s["pathComponents"][0] for s in symbols if len(s["pathComponents"]) == 1})
        for name in top:
            if name not in curated:
                problems.append(f"{landing.relative_to(ROOT)}: public symbol {name} is in no topic group (add ``{name}``)")
        if not problems:
            print(f"curation: {module}: {len(top)} top-level symbols, all on the landing page")
    for problem in problems:
        print("error:", problem, file=sys.stderr)
    return not problems


if __name__ == "__main__":
    if sys.argv[1:2] == ["snippets"]:
        sys.exit(0 if check_snippets() else 1)
    if sys.argv[1:2] == ["tests"]:
        sys.exit(0 if check_tests() else 1)
    if sys.argv[1:2] == ["curation"] and len(sys.argv) in (3, 4):
        sys.exit(0 if check_curation(sys.argv[2], *sys.argv[3:]) else 1)
    print(__doc__, file=sys.stderr)
    sys.exit(2)
