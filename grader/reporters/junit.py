"""JUnit XML: one testsuite per exercise module, one testcase per check, for any CI's test reporter.

Every attribute and text holds only characters XML 1.0 allows (the others escaped visibly), so the
file parses whatever the student's code printed or raised; and no line of it is one a GitHub Actions
runner would take for a workflow command.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections import defaultdict

from grader.assignment import Assignment
from grader.reporters import workflow_commands
from grader.results import ERROR, FAIL, INTERNAL, SubmissionResult
from grader.textsafe import xml_text


def render(result: SubmissionResult, assignment: Assignment) -> str:
    """The XML document."""
    modules = {spec.name: spec.module for spec in assignment.functions}
    suites: dict[str, list] = defaultdict(list)
    for test in result.tests:
        suites[modules.get(test.function, "autograde")].append(test)
    root = ElementTree.Element("testsuites", name=f"autograde {assignment.name}", tests=str(len(result.tests)),
                               failures=str(sum(t.status == FAIL for t in result.tests)),
                               errors=str(sum(t.status in (ERROR, INTERNAL) for t in result.tests)))
    for module, tests in suites.items():
        suite = ElementTree.SubElement(root, "testsuite", name=module, tests=str(len(tests)),
                                       failures=str(sum(t.status == FAIL for t in tests)),
                                       errors=str(sum(t.status in (ERROR, INTERNAL) for t in tests)),
                                       time=f"{sum(t.duration for t in tests):.3f}")
        for test in tests:
            attributes = {"classname": f"{module}.{test.function}", "name": test.name, "time": f"{test.duration:.3f}"}
            if test.file:
                attributes |= {"file": test.file, "line": str(test.line or 0)}
            case = ElementTree.SubElement(suite, "testcase", attributes)
            ElementTree.SubElement(case, "properties")
            properties = case.find("properties")
            for name, value in (("points", f"{test.score:g}"), ("max_points", f"{test.max_score:g}"), ("mistake", test.mistake)):
                if value:
                    ElementTree.SubElement(properties, "property", name=name, value=value)
            if test.status in (FAIL, ERROR, INTERNAL):
                outcome = ElementTree.SubElement(case, "failure" if test.status == FAIL else "error",
                                                 message=test.message[:500], type=test.mistake or test.status)
                outcome.text = "\n".join(test.explanation)
            if test.output:
                ElementTree.SubElement(case, "system-out").text = test.output
    if result.internal_error:
        suite = ElementTree.SubElement(root, "testsuite", name="autograde", tests="1", failures="0", errors="1")
        case = ElementTree.SubElement(suite, "testcase", classname="autograde", name="internal grader error")
        ElementTree.SubElement(case, "error", message="internal grader error", type="internal").text = result.internal_error
    _allowed_characters(root)
    ElementTree.indent(root)
    document = ElementTree.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
    return workflow_commands.neutralise(document, "xml")


def _allowed_characters(root: ElementTree.Element) -> None:
    """Escape what XML 1.0 forbids in every text and attribute of the tree, in place."""
    for element in root.iter():
        element.attrib = {name: xml_text(value) for name, value in element.attrib.items()}
        if element.text:
            element.text = xml_text(element.text)
