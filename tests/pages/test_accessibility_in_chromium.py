"""Accessibility of the pages in Chromium: axe-core (pinned in tests/pages/a11y/package.json,
installed by scripts/install-test-tools, injected from this checkout, so nothing comes from a
CDN) finds no serious or critical violation on any page a class uses, and a student can do
everything with the keyboard alone."""

import pytest
from playwright.sync_api import expect

from tests.pages.conftest import Classroom, log_in, page_errors
from tests.support.server import ROOT

pytestmark = pytest.mark.timeout(300)

AXE = ROOT / "tests" / "pages" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 720}

KINDS = [
    {
        "kind": "multiple_choice",
        "prompt": "Which is largest?",
        "config": {"choices": ["1/2", "2/3", "3/5"], "correct": [1]},
    },
    {
        "kind": "multiple_choice",
        "prompt": "Which are even?",
        "config": {"choices": ["2", "3", "4"], "multiple": True, "correct": [0, 2]},
    },
    {"kind": "text", "prompt": "What is a denominator?", "config": {}},
    {"kind": "number", "prompt": "How many eighths in 3/4?", "config": {"min": 0, "max": 100}},
    {
        "kind": "draggable",
        "prompt": "Where is 3/4?",
        "config": {"image_url": "/static/peardeck/number-line.svg"},
    },
    {"kind": "drawing", "prompt": "Draw a half.", "config": {}},
    {"kind": "slide", "prompt": "Well done!", "config": {"body": "See you next week."}},
]


# axe-core is served as if it were one of our own static files, so the pages' Content-Security-Policy
# (scripts from our origin only, no inline script) stays on while it runs.
AXE_PATH = "/static/__test-only__/axe.min.js"


def serious_violations(page) -> list[dict]:
    """axe-core's serious and critical findings on the page as it is now."""
    assert AXE.exists(), f"{AXE} is missing: run scripts/install-test-tools"
    page.route(
        f"**{AXE_PATH}",
        lambda route: route.fulfill(body=AXE.read_bytes(), content_type="text/javascript"),
    )
    page.add_script_tag(url=AXE_PATH)
    return page.evaluate(
        """async () => {
            const results = await axe.run(document, {resultTypes: ['violations']});
            return results.violations
                .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                              nodes: v.nodes.slice(0, 4).map((n) => n.target.join(' '))}));
        }"""
    )


def test_axe_finds_nothing_serious_on_the_join_student_dashboard_editor_and_projector_pages(
    server, browser, teacher_account
):
    room = Classroom(server, teacher_account, "Fractions", KINDS)
    found: dict[str, list] = {}

    join = browser.new_context(viewport=PHONE).new_page()
    join.goto(f"{server}/?code={room.code}")
    found["join"] = serious_violations(join)
    join.get_by_role("button", name="Join").click()  # no name: the error is shown
    expect(join.locator("#join-error")).to_be_visible()
    found["join with an error"] = serious_violations(join)

    for name in ("Ada", "Bo"):
        room.join(name)
    student = room.student_in(browser.new_context(viewport=PHONE), "Ada")
    expect(student.get_by_role("heading", name="You're in!")).to_be_visible()
    found["student waiting"] = serious_violations(student)

    projector = browser.new_context(viewport=LAPTOP).new_page()
    projector.goto(room.projector_url())
    expect(projector.locator(".lobby")).to_be_visible()
    found["projector lobby"] = serious_violations(projector)

    teacher = browser.new_context(viewport=LAPTOP).new_page()
    log_in(teacher, server, room.account)
    found["decks"] = serious_violations(teacher)
    teacher.goto(f"{server}/teach/decks/{room.deck['id']}/")
    expect(teacher.locator(".question-item")).to_have_count(len(KINDS))
    teacher.locator(".question-item").first.get_by_role("button", name="Edit").click()
    found["deck editor"] = serious_violations(teacher)
    teacher.goto(room.dashboard_url())
    expect(teacher.locator(".roster-row")).to_have_count(2)
    found["dashboard waiting"] = serious_violations(teacher)

    room.teacher("start")
    answers = {
        "multiple_choice": [{"choices": [1]}, {"choices": [0, 2]}],
        "text": [{"text": "The number of equal parts"}],
        "number": [{"value": 6}],
        "draggable": [{"x": 0.75, "y": 0.5}],
        "drawing": [{"strokes": [{"points": [[0.1, 0.1], [0.9, 0.9]], "color": "#dc2626", "width": 3}]}],
    }
    used = {kind: 0 for kind in answers}
    for index, question in enumerate(room.questions):
        if index:
            room.teacher("next")
        label = f"{question['kind']} ({question['prompt']})"
        expect(student.get_by_role("heading", name=question["prompt"])).to_be_visible()
        found[f"student {label}"] = serious_violations(student)
        if question["kind"] != "slide":
            answer = answers[question["kind"]][used[question["kind"]]]
            used[question["kind"]] += 1
            room.answer("Ada", question, answer)
            room.answer("Bo", question, answer)
            room.teacher("reveal", question_id=question["id"])
            expect(teacher.locator("#answered")).to_have_text("2 of 2 answered")
        expect(projector.locator(".projector-title")).to_have_text(question["prompt"])
        found[f"dashboard {label}"] = serious_violations(teacher)
        found[f"projector {label}"] = serious_violations(projector)

    teacher.get_by_role("button", name="QR & link").click()
    found["dashboard invite"] = serious_violations(teacher)
    teacher.keyboard.press("Escape")
    room.teacher("end")
    expect(student.get_by_role("heading", name="Your takeaways · Fractions")).to_be_visible()
    found["student takeaways"] = serious_violations(student)

    assert {page: violations for page, violations in found.items() if violations} == {}
    assert len(found) >= 26


def tab_to(page, selector: str, limit: int = 40) -> None:
    """Presses Tab until the focused element matches `selector`, as a keyboard user would."""
    for _ in range(limit):
        if page.evaluate(
            "(s) => Boolean(document.activeElement && document.activeElement.matches(s))", selector
        ):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_a_student_does_everything_with_the_keyboard_alone(server, browser, teacher_account):
    room = Classroom(server, teacher_account, "Keys", KINDS, pacing="student")
    room.teacher("start")
    page = browser.new_context(viewport=PHONE).new_page()
    errors = page_errors(page)

    # Join: the code field has the focus; type, Tab, type, Enter.
    page.goto(f"{server}/")
    page.keyboard.type(room.code.lower())
    page.keyboard.press("Tab")
    page.keyboard.type("Kim")
    page.keyboard.press("Enter")
    page.wait_for_url("**/s/")
    status = page.locator("#student-status")

    def next_question(prompt):
        tab_to(page, "nav.pacing button:last-child")
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name=prompt)).to_be_visible()

    # One choice: Tab to it, Enter. Then change it with Space.
    expect(page.get_by_role("heading", name="Which is largest?")).to_be_visible()
    tab_to(page, "[data-choice='0']")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Sent")
    tab_to(page, "[data-choice='1']")
    page.keyboard.press("Space")
    expect(page.locator("[data-choice='1']")).to_have_attribute("aria-pressed", "true")

    next_question("Which are even?")
    for choice in ("0", "2"):
        tab_to(page, f"[data-choice='{choice}']")
        page.keyboard.press("Space")
    tab_to(page, "button.send")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Sent")

    next_question("What is a denominator?")
    tab_to(page, "#text-answer")
    page.keyboard.type("How many parts")
    tab_to(page, "button.send")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Sent")

    next_question("How many eighths in 3/4?")
    tab_to(page, "#number-answer")
    page.keyboard.type("6")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Sent")

    next_question("Where is 3/4?")
    tab_to(page, ".drag-board")
    for _ in range(15):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    expect(status).to_contain_text("Sent")

    next_question("Draw a half.")
    tab_to(page, "canvas.drawing-canvas")
    page.keyboard.press("Space")  # pen down
    for key in ["ArrowRight"] * 6 + ["ArrowDown"] * 4:
        page.keyboard.press(key)
    page.keyboard.press("Space")  # pen up
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("Space")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Enter")  # lifts the pen and sends
    expect(status).to_contain_text("Sent")

    next_question("Well done!")
    expect(page.get_by_text("See you next week.")).to_be_visible()

    answers = {
        row["question_id"]: row["answer"]
        for row in room.api.get(f"/sessions/{room.id}/responses?limit=100").json()["items"]
    }
    ids = [question["id"] for question in room.questions]
    assert answers[ids[0]] == {"choices": [1]}
    assert answers[ids[1]] == {"choices": [0, 2]}
    assert answers[ids[2]] == {"text": "How many parts"}
    assert answers[ids[3]] == {"value": 6}
    assert answers[ids[4]]["x"] == pytest.approx(0.8) and answers[ids[4]]["y"] == pytest.approx(0.5)
    strokes = answers[ids[5]]["strokes"]
    assert [len(stroke["points"]) for stroke in strokes] == [11, 3]
    assert strokes[0]["points"][0] == [0.5, 0.5] and strokes[0]["points"][-1] == [0.65, 0.6]

    # Takeaways are read with the keyboard too: every question is a heading in the page.
    room.teacher("end")
    expect(page.get_by_role("heading", name="Your takeaways · Keys")).to_be_visible()
    expect(page.locator(".takeaway h2")).to_have_count(6)
    assert errors == []
