"""A whole class in real Chromium: a teacher builds a deck and runs it from the dashboard, three
students answer from their own browsers (one with its WebSocket blocked), the projector shows
anonymous results, the CSV downloads."""

import csv
import time

import pytest
from playwright.sync_api import expect

from tests.pages.conftest import (
    SCREENSHOTS,
    log_in,
    page_errors,
    screenshot,
    seconds_until_roster_shows,
    watch_roster,
)
from tests.support.classroom import number_questions, open_class

pytestmark = pytest.mark.timeout(300)

PHONE = {"width": 390, "height": 844}


def answer_and_time(teacher, name: str, text: str, act) -> float:
    """Seconds from a student's action to their answer showing on the teacher's dashboard."""
    started_ms = time.time() * 1000
    act()
    return seconds_until_roster_shows(teacher, name, text, started_ms)


def add_question(page, kind: str, prompt: str, **fields):
    page.select_option("#new-kind", kind)
    page.fill("#new-fields [name=prompt]", prompt)
    for name, value in fields.items():
        page.fill(f"#new-fields [name={name}]", value)
    count = page.locator(".question-item").count()
    page.get_by_role("button", name="Add question").click()
    expect(page.locator(".question-item")).to_have_count(count + 1)


def join(browser, server, code: str, name: str, *, block_websocket=False):
    context = browser.new_context(viewport=PHONE, has_touch=False)
    if block_websocket:
        # The school's firewall: every WebSocket this browser opens is closed before it reaches us.
        context.route_web_socket("**/ws/**", lambda socket: socket.close())
    page = context.new_page()
    errors = page_errors(page)
    page.goto(f"{server}/")
    page.get_by_label("Join code").fill(code.lower())
    page.get_by_label("Your name").fill(name)
    page.get_by_role("button", name="Join").click()
    page.wait_for_url("**/s/")
    expect(page.get_by_role("heading", name="You're in!")).to_be_visible()
    return page, errors


def test_a_teacher_runs_a_class_of_three_browsers_from_the_dashboard(server, browser, teacher_account):
    api = teacher_account.client(server)
    teacher_context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    teacher = teacher_context.new_page()
    teacher_errors = page_errors(teacher)
    log_in(teacher, server, teacher_account)

    # --- build a deck with every kind, reorder, edit ---------------------------------------
    teacher.get_by_label("New deck title").fill("Europe")
    teacher.get_by_role("button", name="Create deck").click()
    teacher.wait_for_url("**/teach/decks/*/")
    deck_id = int(teacher.url.rstrip("/").rsplit("/", 1)[1])
    add_question(teacher, "number", "How many countries border France?", min="0", max="20")
    add_question(teacher, "multiple_choice", "Capital of France?", choices="*Paris\nRome\nMadrid")
    add_question(teacher, "text", "One word for Europe")
    add_question(teacher, "draggable", "Point at the capital", image_url="/static/peardeck/map.svg")
    add_question(teacher, "drawing", "Draw a flag")
    add_question(teacher, "slide", "Thanks!", body="See you next week")
    teacher.get_by_role("button", name="Move question 2 up").click()
    expect(teacher.locator(".question-item").first).to_contain_text("Capital of France?")
    first = teacher.locator(".question-item").first
    first.get_by_role("button", name="Edit").click()
    first.locator("[name=prompt]").fill("What is the capital of France?")
    first.get_by_role("button", name="Save").click()
    expect(teacher.locator(".question-item").first).to_contain_text("What is the capital of France?")
    deck = api.get(f"/decks/{deck_id}").json()
    assert [q["kind"] for q in deck["questions"]] == [
        "multiple_choice",
        "number",
        "text",
        "draggable",
        "drawing",
        "slide",
    ]
    assert deck["questions"][0]["config"]["correct"] == [0]

    # --- open the session; the projector and three students join --------------------------
    teacher.get_by_role("button", name="Start a session").click()
    teacher.wait_for_url("**/teach/sessions/*/")
    session_id = int(teacher.url.rstrip("/").rsplit("/", 1)[1])
    code = teacher.locator("#join-code").inner_text().strip()
    assert len(code) == 6
    expect(teacher.locator("#connection")).to_have_text("Connected")

    with teacher.expect_popup() as popup:
        teacher.get_by_role("button", name="Open projector").click()
    projector = popup.value
    projector_errors = page_errors(projector)
    assert "#key=pdp_" in projector.url
    expect(projector.locator("#join-code")).to_have_text(code)
    expect(projector.locator("#join-address")).to_contain_text("127.0.0.1")

    ada, ada_errors = join(browser, server, code, "Ada")
    bo, bo_errors = join(browser, server, code, "Bo")
    cy, cy_errors = join(browser, server, code, "Cy", block_websocket=True)
    expect(teacher.locator(".roster-row")).to_have_count(3)
    watch_roster(teacher)
    expect(projector.locator("#student-count")).to_have_text("3 joined")
    expect(ada.locator("#connection")).to_have_text("● live")
    expect(cy.locator("#connection")).to_have_text("● connected (polling)")

    # --- question 1, multiple choice: each answer reaches the dashboard within a second ----
    teacher.get_by_role("button", name="Go live").click()
    for student in (ada, bo, cy):
        expect(student.get_by_role("heading", name="What is the capital of France?")).to_be_visible()
    latencies = {}
    for student, name, choice in ((ada, "Ada", "Paris"), (bo, "Bo", "Rome"), (cy, "Cy", "Paris")):
        latencies[name] = answer_and_time(
            teacher, name, choice, student.get_by_role("button", name=choice).click
        )
        expect(student.locator("#student-status")).to_contain_text("Sent")
    expect(teacher.locator("#answered")).to_have_text("3 of 3 answered")
    # Bo changes his mind while the question is open.
    latencies["Bo, changed"] = answer_and_time(
        teacher, "Bo", "Paris", bo.get_by_role("button", name="Paris").click
    )
    expect(bo.get_by_role("button", name="Paris")).to_have_attribute("aria-pressed", "true")

    # The projector shows results only once revealed, and never a name.
    expect(projector.locator("#projector-results")).to_contain_text("Answer on your device")
    teacher.get_by_role("button", name="Reveal on projector").click()
    expect(projector.locator(".bar").first).to_contain_text("Paris")
    expect(projector.locator(".bar-count").first).to_have_text("3")
    projector_text = projector.locator("body").inner_text()
    for name in ("Ada", "Bo", "Cy"):
        assert name not in projector_text

    # Lock: the live student sees it at once; the polling student's late change is refused.
    cy.route("**/api/student/state*", lambda route: route.abort())  # Cy has not heard of the lock yet
    teacher.get_by_role("button", name="Lock answers").click()
    expect(ada.locator("#student-status")).to_contain_text("Locked")
    expect(ada.get_by_role("button", name="Rome")).to_be_disabled()
    cy.get_by_role("button", name="Rome").click()
    expect(cy.locator("#student-status")).to_contain_text("Locked — your change was not accepted")
    cy.unroute("**/api/student/state*")
    answers = {
        r["student"]["display_name"]: r["answer"]
        for r in api.get(f"/sessions/{session_id}/responses").json()["items"]
    }
    assert answers["Cy"] == {"choices": [0]}
    screenshot(teacher, "teacher-dashboard")
    screenshot(projector, "projector")

    # --- question 2, number; question 3, text (Cy over polling) ----------------------------
    teacher.get_by_role("button", name="Next question").click()
    ada.get_by_label("How many countries border France?").fill("8")
    ada.get_by_role("button", name="Send").click()
    bo.get_by_label("How many countries border France?").fill("6")
    latencies["Bo, number"] = answer_and_time(
        teacher, "Bo", "6", lambda: bo.get_by_label("How many countries border France?").press("Enter")
    )
    expect(teacher.locator(".histogram .hist-bin")).not_to_have_count(0)

    teacher.get_by_role("button", name="Next question").click()
    cy.get_by_label("One word for Europe").fill("Diverse")
    # Cy's clock starts when the answer leaves the browser: waiting for the button to be clickable
    # is Playwright's time, not the product's.
    sent_at = []

    def note_answer_sent(request):
        if request.url.endswith("/api/student/responses") and not sent_at:
            sent_at.append(time.time() * 1000)

    cy.on("request", note_answer_sent)
    cy.get_by_role("button", name="Send").click()
    expect(cy.locator("#student-status")).to_contain_text("Sent")
    started_ms = sent_at[0]
    latencies["Cy, text over HTTP"] = seconds_until_roster_shows(teacher, "Cy", "Diverse", started_ms)
    expect(teacher.locator(".text-answers")).to_contain_text("Diverse")

    # --- question 4, draggable: a tap places a point, keyboard moves it --------------------
    teacher.get_by_role("button", name="Next question").click()
    board = bo.locator(".drag-board")
    expect(board).to_be_visible()
    box = board.bounding_box()
    bo.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    expect(bo.locator("#student-status")).to_contain_text("Sent")
    board.focus()
    bo.keyboard.press("ArrowRight")
    latencies["Bo, point"] = answer_and_time(
        teacher, "Bo", "52% across, 50% down", lambda: bo.keyboard.press("Enter")
    )
    expect(teacher.locator("#results .dot-board .dot")).to_have_count(1)

    # --- question 5, drawing ---------------------------------------------------------------
    teacher.get_by_role("button", name="Next question").click()
    canvas = ada.locator("canvas.drawing-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    ada.mouse.move(box["x"] + 40, box["y"] + 40)
    ada.mouse.down()
    for step in range(1, 12):
        ada.mouse.move(box["x"] + 40 + step * 20, box["y"] + 40 + step * 12)
    ada.mouse.up()
    screenshot(ada, "student-drawing")
    latencies["Ada, drawing"] = answer_and_time(
        teacher, "Ada", "drawing of 1 line", ada.get_by_role("button", name="Send").click
    )
    expect(teacher.locator(".gallery svg polyline")).to_have_count(1)

    # --- star, remove, CSV, end --------------------------------------------------------------
    teacher.locator("#question-nav button").first.click()
    expect(teacher.locator("#current-prompt")).to_have_text("What is the capital of France?")
    teacher.get_by_role("button", name="Star Ada's answer").click()
    expect(teacher.get_by_role("button", name="Star Ada's answer")).to_have_attribute("aria-pressed", "true")

    teacher.once("dialog", lambda dialog: dialog.accept())
    teacher.get_by_role("button", name="Remove Bo").click()
    expect(teacher.locator(".roster-row")).to_have_count(2)
    expect(bo.get_by_role("heading", name="The teacher removed you from this session.")).to_be_visible()

    with teacher.expect_download() as download_info:
        teacher.get_by_role("link", name="Download CSV").click()
    exported = download_info.value
    assert exported.suggested_filename.endswith(".csv")
    with open(exported.path(), encoding="utf-8") as exported_file:
        rows = list(csv.DictReader(exported_file))
    assert any("Diverse" in row.values() for row in rows), rows
    assert any("Ada" in row.values() for row in rows), rows

    teacher.once("dialog", lambda dialog: dialog.accept())
    teacher.get_by_role("button", name="End session").click()
    expect(ada.get_by_role("heading", name="Your takeaways · Europe")).to_be_visible()
    expect(ada.locator(".takeaway").first).to_contain_text("Correct")
    expect(ada.locator(".takeaway.starred")).to_have_count(1)
    expect(projector.locator(".projector-title")).to_have_text("Thanks for taking part!")

    print(
        "\nseconds from a student's action to the dashboard:", {k: round(v, 3) for k, v in latencies.items()}
    )
    assert all(seconds < 1.0 for seconds in latencies.values()), latencies
    for errors in (teacher_errors, projector_errors, ada_errors, bo_errors, cy_errors):
        assert errors == []


def test_a_student_joins_from_a_shared_link_and_answers_on_a_phone(server, browser, teacher_account):
    """A student's view of a multiple-choice question, answered, at phone size."""
    planets = {"choices": ["Mars", "Jupiter", "Venus"]}
    question = {"kind": "multiple_choice", "prompt": "Which planet is largest?", "config": planets}
    live = open_class(server, teacher=teacher_account, title="Screens", questions=[question])
    page, errors = join_live(browser, server, live.join_code, "Grace")
    page.get_by_role("button", name="Jupiter").click()
    expect(page.locator("#student-status")).to_contain_text("Sent")
    screenshot(page, "student-question")
    assert (SCREENSHOTS / "student-question.png").stat().st_size > 0
    assert errors == []


def join_live(browser, server, code, name):
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    errors = page_errors(page)
    page.goto(f"{server}/?code={code}")
    expect(page.get_by_label("Join code")).to_have_value(code)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Your name").press("Enter")
    page.wait_for_url("**/s/")
    return page, errors


def test_a_student_in_a_student_paced_session_moves_at_their_own_pace(server, browser, teacher_account):
    questions = number_questions("First", "Second")
    live = open_class(
        server, teacher=teacher_account, title="Homework", questions=questions, pacing="student"
    )
    page, errors = join_live(browser, server, live.join_code, "Hedy")
    expect(page.get_by_role("heading", name="First")).to_be_visible()
    page.get_by_role("navigation", name="Your pace").get_by_role("button", name="Next ▶").click()
    expect(page.get_by_role("heading", name="Second")).to_be_visible()
    page.get_by_label("Second").fill("2")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#student-status")).to_contain_text("Sent")
    answers = teacher_account.client(server).get(f"/sessions/{live.session_id}/responses").json()["items"]
    assert [(a["student"]["display_name"], a["answer"]) for a in answers] == [("Hedy", {"value": 2})]
    assert errors == []
