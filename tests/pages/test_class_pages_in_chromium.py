"""The classroom pages judged as a teacher and a class would judge them (issue 17): the projector
read from the back of a room at 1280x720, joining by QR code and link, the dashboard on one
screen with each student's correctness, students' takeaways and error messages."""

import re

import pytest
from playwright.sync_api import expect

from tests.pages.conftest import Classroom, log_in, page_errors, screenshot
from tests.support.classroom import sign_up_teacher

pytestmark = pytest.mark.timeout(300)

PROJECTOR = {"width": 1280, "height": 720}
PHONE = {"width": 390, "height": 844}
NAMES = ("Ada", "Bo", "Cy", "Dee")

EVERY_KIND = [
    {
        "kind": "multiple_choice",
        "prompt": "Which fraction is the largest?",
        "config": {"choices": ["1/2", "2/3", "3/5"], "correct": [1]},
    },
    {"kind": "text", "prompt": "What does the denominator tell you?", "config": {"max_length": 280}},
    {"kind": "number", "prompt": "How many eighths make three quarters?", "config": {"min": 0, "max": 100}},
    {
        "kind": "draggable",
        "prompt": "Where does 3/4 sit on the line?",
        "config": {"image_url": "/static/peardeck/number-line.svg"},
    },
    {"kind": "drawing", "prompt": "Draw a pizza cut into sixths.", "config": {}},
]

LONG_TEXT = "It tells you how many equal parts the whole has been cut into, like eighths of a pizza"


def stroke(*points, color="#1f2937"):
    return {"points": [list(point) for point in points], "color": color, "width": 3}


DRAWINGS = {
    "Ada": {"strokes": [stroke((0.1, 0.1), (0.9, 0.9)), stroke((0.9, 0.1), (0.1, 0.9), color="#dc2626")]},
    "Bo": {"strokes": [stroke((0.5, 0.1), (0.5, 0.9), color="#2563eb")]},
    "Cy": {"strokes": [stroke((0.1, 0.5), (0.9, 0.5), color="#16a34a")]},
    "Dee": {"strokes": [stroke((0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8), (0.2, 0.2))]},
}

# Every piece of visible text under `root` whose computed font size is below `minimum` px.
SMALL_TEXT = """([selector, minimum]) => {
    const root = document.querySelector(selector);
    const small = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
        const node = walker.currentNode;
        const element = node.parentElement;
        if (!node.textContent.trim() || element.closest('.visually-hidden, [hidden], title')) continue;
        const box = element.getBoundingClientRect();
        if (!box.width || !box.height) continue;
        const size = parseFloat(getComputedStyle(element).fontSize);
        if (size < minimum) small.push([node.textContent.trim().slice(0, 40), size]);
    }
    return small;
}"""

SCROLLS = """() => {
    const page = document.scrollingElement;
    return {x: page.scrollWidth - innerWidth, y: page.scrollHeight - innerHeight};
}"""


def no_scroll(page) -> dict:
    return page.evaluate(SCROLLS)


def requests_of(page) -> list[str]:
    """Every address the page asks for, to show that nothing comes from a CDN or a QR service."""
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def elsewhere(urls: list[str], server: str) -> list[str]:
    ours = server.replace("http://", "ws://")
    return [url for url in urls if not url.startswith((server, ours, "data:"))]


def test_the_projector_is_readable_from_the_back_and_shows_every_kind_of_result(
    server, browser, teacher_account
):
    room = Classroom(server, teacher_account, "Fractions", EVERY_KIND)
    for name in NAMES:
        room.join(name)
    mc, text, number, draggable, drawing = room.questions
    projector = browser.new_context(viewport=PROJECTOR).new_page()
    errors = page_errors(projector)
    fetched = requests_of(projector)
    projector.goto(room.projector_url())

    # 7. The way in: the QR code (drawn by our server), the address and the code, big.
    lobby_qr = projector.locator("img.lobby-qr")
    expect(lobby_qr).to_be_visible()
    for qr in (lobby_qr, projector.locator("img.join-qr")):
        assert qr.get_attribute("src") == f"/join-qr/{room.code}.svg"
    projector.wait_for_function("() => document.querySelector('img.lobby-qr').naturalWidth > 0")
    assert projector.locator(".lobby").inner_text().count(room.code) == 1
    assert lobby_qr.bounding_box()["height"] >= 300
    assert projector.evaluate(SMALL_TEXT, ["#projector-stage", 32]) == []
    screenshot(projector, "projector-join")

    room.teacher("start")
    expect(projector.locator(".projector-title")).to_have_text(mc["prompt"])
    for name, choice in zip(NAMES, (1, 1, 0, 2), strict=True):
        room.answer(name, mc, {"choices": [choice]})
    room.teacher("reveal", question_id=mc["id"])
    expect(projector.locator(".bar-count")).to_have_text(["1", "2", "1"])
    # 3. Readable from 10 m: no text under 24 px, no result under 32 px, nothing off screen.
    assert projector.evaluate(SMALL_TEXT, ["body", 24]) == []
    assert projector.evaluate(SMALL_TEXT, ["#projector-results", 32]) == []
    assert no_scroll(projector) == {"x": 0, "y": 0}
    screenshot(projector, "projector-results")

    room.teacher("next")
    for name, words in zip(NAMES, ("Parts", "How many pieces", LONG_TEXT, "The bottom number"), strict=True):
        room.answer(name, text, {"text": words})
    room.teacher("reveal", question_id=text["id"])
    expect(projector.locator(".text-answers li")).to_have_count(4)
    assert projector.evaluate(SMALL_TEXT, ["body", 24]) == []
    assert projector.evaluate(SMALL_TEXT, ["#projector-results", 32]) == []

    # 4. The histogram: one bar per number given, each labelled with its count, on an axis.
    room.teacher("next")
    for name, value in zip(NAMES, (6, 6, 5, 8), strict=True):
        room.answer(name, number, {"value": value})
    room.teacher("reveal", question_id=number["id"])
    expect(projector.locator(".hist-bin")).to_have_count(4)
    expect(projector.locator(".hist-count")).to_have_text(["1", "2", "0", "1"])
    expect(projector.locator(".hist-tick")).to_have_text(["5", "6", "7", "8"])
    expect(projector.locator(".summary")).to_contain_text("Median")
    assert projector.evaluate(SMALL_TEXT, ["body", 24]) == []
    assert projector.evaluate(SMALL_TEXT, ["#projector-results", 32]) == []
    assert no_scroll(projector) == {"x": 0, "y": 0}
    screenshot(projector, "projector-histogram")

    # 2. The board with its image fits a 1280x720 projector, every point on it.
    room.teacher("next")
    for name, x in zip(NAMES, (0.74, 0.76, 0.7, 0.5), strict=True):
        room.answer(name, draggable, {"x": x, "y": 0.5})
    room.teacher("reveal", question_id=draggable["id"])
    expect(projector.locator(".dot-board .dot")).to_have_count(4)
    # Read when drawn: each tally update draws the stage afresh.
    board = projector.wait_for_function(
        """() => { const board = document.querySelector('.dot-board');
            const box = board && board.getBoundingClientRect();
            return box && box.height > 0 && box.toJSON(); }"""
    ).json_value()
    assert board["bottom"] <= PROJECTOR["height"], board
    assert board["height"] >= 250, board
    assert projector.locator(".dot-board img").evaluate("img => img.naturalWidth") > 0
    assert no_scroll(projector) == {"x": 0, "y": 0}

    # 1. The drawing gallery: every revealed drawing, all on screen at once.
    room.teacher("next")
    for name in NAMES:
        room.answer(name, drawing, DRAWINGS[name])
    room.teacher("reveal", question_id=drawing["id"])
    tiles = projector.locator(".gallery svg.drawing")
    expect(tiles).to_have_count(4)
    expect(projector.locator(".gallery polyline")).to_have_count(5)
    # Read in one go: each tally update draws the stage afresh.
    boxes = tiles.evaluate_all("tiles => tiles.map((t) => t.getBoundingClientRect().toJSON())")
    for box in boxes:
        assert box["top"] >= 0 and box["bottom"] <= PROJECTOR["height"], boxes
        assert box["width"] >= 200, boxes
    assert no_scroll(projector) == {"x": 0, "y": 0}
    assert projector.evaluate(SMALL_TEXT, ["body", 24]) == []
    for name in NAMES:
        assert name not in projector.locator("body").inner_text()
    screenshot(projector, "projector-gallery")
    assert errors == []
    assert elsewhere(fetched, server) == []


def dashboard_of(browser, room, viewport):
    context = browser.new_context(viewport=viewport)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=room.server)
    page = context.new_page()
    errors = page_errors(page)
    # Anything fetched from elsewhere (a CDN, a QR service) counts as an error.
    page.on("request", lambda r: None if r.url.startswith(room.server) else errors.append(r.url))
    log_in(page, room.server, room.account)
    page.goto(room.dashboard_url())
    expect(page.locator("#connection")).to_have_text("Connected")
    return page, errors


def controls_rows(page) -> int:
    return page.evaluate(
        "() => new Set([...document.querySelectorAll('.controls button')]"
        ".filter((b) => b.offsetParent).map((b) => Math.round(b.getBoundingClientRect().top))).size"
    )


def test_the_dashboard_fits_one_screen_and_shows_who_is_right(server, browser, teacher_account):
    room = Classroom(server, teacher_account, "Fractions", EVERY_KIND)
    mc, text, number, draggable, drawing = room.questions
    teacher, errors = dashboard_of(browser, room, {"width": 1280, "height": 720})

    # 5. The session's state, not the connection's, says whether the class is live.
    expect(teacher.locator("#session-state")).to_have_text("Waiting for students")
    assert "live" not in teacher.locator("#connection").inner_text().lower()
    assert "live" not in teacher.locator(".dash-head").inner_text().lower()

    # 7. Joining: a big code, and a QR code with the join link and a copy button.
    code_size = teacher.locator("#join-code").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert code_size >= 40, code_size
    teacher.get_by_role("button", name="QR & link").click()
    dialog = teacher.get_by_role("dialog", name="Invite students")
    expect(dialog).to_be_visible()
    teacher.wait_for_function("() => document.querySelector('.invite-qr').naturalWidth > 0")
    assert dialog.locator("img").get_attribute("src") == f"/join-qr/{room.code}.svg"
    link = f"{server}/?code={room.code}"
    expect(dialog.get_by_label("Join link")).to_have_value(link)
    dialog.get_by_role("button", name="Copy link").click()
    expect(dialog.get_by_role("status")).to_contain_text("copied")
    assert teacher.evaluate("() => navigator.clipboard.readText()") == link
    screenshot(teacher, "dashboard-invite")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    for name in NAMES[:3]:
        room.join(name)
    expect(teacher.locator(".roster-row")).to_have_count(3)
    # 10. One screen: no page scroll, the controls on one row.
    assert controls_rows(teacher) == 1
    assert no_scroll(teacher) == {"x": 0, "y": 0}
    teacher.get_by_role("button", name="Go live").click()
    expect(teacher.locator("#session-state")).to_have_text("Live")
    expect(teacher.locator("#current-prompt")).to_have_text(mc["prompt"])
    assert controls_rows(teacher) == 1
    assert no_scroll(teacher) == {"x": 0, "y": 0}

    # 8. Each student's answer is marked right or wrong; the question shows how many are right.
    room.answer("Ada", mc, {"choices": [1]})
    room.answer("Bo", mc, {"choices": [0]})
    ada = teacher.locator(".roster-row", has_text="Ada")
    bo = teacher.locator(".roster-row", has_text="Bo")
    cy = teacher.locator(".roster-row", has_text="Cy")
    expect(ada).to_have_class(re.compile(r"\bcorrect\b"))
    expect(bo).to_have_class(re.compile(r"\bincorrect\b"))
    expect(ada.locator(".verdict")).to_contain_text("correct")
    expect(bo.locator(".verdict")).to_contain_text("incorrect")
    background = "e => getComputedStyle(e).backgroundColor"
    assert ada.evaluate(background) != bo.evaluate(background)
    expect(teacher.locator("#correct-so-far")).to_have_text("1 of 2 correct so far (50%)")
    # 6. No answer is said in words; star and remove are labelled.
    expect(cy.locator(".roster-answer")).to_have_text("No answer yet")
    expect(ada.get_by_role("button", name="Star Ada's answer")).to_have_text(re.compile("Star"))
    expect(ada.get_by_role("button", name="Remove Ada")).to_have_text("Remove")

    # Keyboard shortcuts: → next, L lock, ← previous.
    teacher.locator("body").press("ArrowRight")
    expect(teacher.locator("#current-prompt")).to_have_text(text["prompt"])
    teacher.locator("body").press("l")
    expect(teacher.locator("#lock")).to_have_attribute("aria-pressed", "true")
    teacher.locator("body").press("l")
    expect(teacher.locator("#lock")).to_have_attribute("aria-pressed", "false")

    # 6. A long text answer is shown whole, not cut to "It tells yo…".
    room.answer("Cy", text, {"text": LONG_TEXT})
    answer = cy.locator(".answer-text")
    expect(answer).to_have_text(LONG_TEXT)
    clipped = answer.evaluate("e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1")
    assert not clipped
    assert no_scroll(teacher) == {"x": 0, "y": 0}

    room.teacher("goto", question_id=draggable["id"])
    room.answer("Ada", draggable, {"x": 0.75, "y": 0.5})
    expect(ada.locator(".dot-board.mini .dot")).to_have_count(1)
    expect(ada.locator(".dot-board.mini img")).to_have_attribute("src", "/static/peardeck/number-line.svg")

    # 6. A drawing in the roster is the drawing, inside its row.
    room.teacher("goto", question_id=drawing["id"])
    room.answer("Bo", drawing, DRAWINGS["Bo"])
    thumb = bo.locator("svg.drawing.mini")
    expect(thumb).to_be_visible()
    inside = bo.evaluate(
        """row => {
            const outer = row.getBoundingClientRect();
            const mini = row.querySelector('svg.drawing.mini').getBoundingClientRect();
            return mini.left >= outer.left && mini.right <= outer.right
                && row.scrollWidth <= row.clientWidth;
        }"""
    )
    assert inside
    expect(teacher.locator("#results .gallery svg.drawing")).to_have_count(1)

    # Hide names, for sharing the screen: no name anywhere on the page.
    teacher.locator("body").press("h")
    expect(teacher.get_by_role("button", name="Show names")).to_have_attribute("aria-pressed", "true")
    shown = teacher.locator("main").inner_text()
    for name in NAMES[:3]:
        assert name not in shown, name
    expect(teacher.locator(".roster-row .name")).to_have_text(["Student 1", "Student 2", "Student 3"])
    teacher.get_by_role("button", name="Show names").click()
    expect(teacher.locator(".roster-row .name").first).to_have_text("Ada")

    # 10. A full class and a histogram still fit one screen, at 1280x720 and at 1366x768.
    for index in range(12):
        room.join(f"Student{index:02}")
    room.teacher("goto", question_id=number["id"])
    for name, value in (("Ada", 6), ("Bo", 6), ("Cy", 5), ("Student00", 8), ("Student01", 60)):
        room.answer(name, number, {"value": value})
    expect(teacher.locator(".roster-row")).to_have_count(15)
    expect(teacher.locator(".hist-count")).to_have_count(10)
    expect(teacher.locator("#toast")).to_be_hidden()
    screenshot(teacher, "dashboard-class")
    assert no_scroll(teacher) == {"x": 0, "y": 0}
    teacher.set_viewport_size({"width": 1366, "height": 768})
    assert controls_rows(teacher) == 1
    assert no_scroll(teacher) == {"x": 0, "y": 0}

    # 5. Ended is said as ended, wherever the link stands.
    room.teacher("end")
    expect(teacher.locator("#session-state")).to_have_text("Ended")
    assert "live" not in teacher.locator(".dash-head").inner_text().lower()
    assert errors == []


def test_a_student_on_a_phone_draws_gets_plain_words_and_rich_takeaways(server, browser, teacher_account):
    room = Classroom(server, teacher_account, "Fractions", EVERY_KIND)
    mc, text, number, draggable, drawing = room.questions
    context = browser.new_context(viewport=PHONE, has_touch=True)
    room.teacher("start")
    page = room.student_in(context, "Grace")
    errors = page_errors(page)
    expect(page.get_by_role("heading", name=mc["prompt"])).to_be_visible()
    page.get_by_role("button", name="2/3").click()
    expect(page.locator("#student-status")).to_contain_text("Sent")

    # 10. A refused answer is explained in a student's words, not the server's.
    room.teacher("goto", question_id=number["id"])
    page.get_by_label(number["prompt"]).fill("150")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#student-status")).to_have_text("Not sent. Pick a number from 0 to 100.")
    assert "answer.value" not in page.locator("body").inner_text()
    page.get_by_label(number["prompt"]).fill("6")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#student-status")).to_contain_text("Sent")

    room.teacher("goto", question_id=draggable["id"])
    board = page.locator(".drag-board")
    expect(board.locator("img")).to_have_attribute("src", "/static/peardeck/number-line.svg")
    box = board.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] * 0.5)
    expect(page.locator("#student-status")).to_contain_text("Sent")

    # A phone answering a drawing question.
    room.teacher("goto", question_id=drawing["id"])
    canvas = page.locator("canvas.drawing-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    for start, end in (((0.5, 0.1), (0.5, 0.9)), ((0.1, 0.5), (0.9, 0.5)), ((0.2, 0.2), (0.8, 0.8))):
        if start == (0.2, 0.2):
            page.get_by_role("button", name="Red").click()
            expect(page.get_by_role("button", name="Red")).to_have_attribute("aria-pressed", "true")
        page.mouse.move(box["x"] + box["width"] * start[0], box["y"] + box["height"] * start[1])
        page.mouse.down()
        for step in range(1, 11):
            x = start[0] + (end[0] - start[0]) * step / 10
            y = start[1] + (end[1] - start[1]) * step / 10
            page.mouse.move(box["x"] + box["width"] * x, box["y"] + box["height"] * y)
        page.mouse.up()
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#student-status")).to_contain_text("Sent")
    screenshot(page, "student-drawing-phone")

    # 9. Takeaways: the score, the drawing itself, the point on its picture.
    room.teacher("end")
    expect(page.get_by_role("heading", name="Your takeaways · Fractions")).to_be_visible()
    # 5. The student's pill no longer says "live" once the class is over.
    expect(page.locator("#connection")).to_have_text("Class ended")
    expect(page.locator(".score")).to_contain_text("1 of 1 right")
    expect(page.locator(".score")).to_contain_text("You answered 4 of 5 questions")
    drawn = page.locator(".takeaway", has_text=drawing["prompt"])
    expect(drawn.locator("svg.drawing polyline")).to_have_count(3)
    placed = page.locator(".takeaway", has_text=draggable["prompt"])
    expect(placed.locator("img")).to_have_attribute("src", "/static/peardeck/number-line.svg")
    expect(placed.locator(".dot")).to_have_count(1)
    expect(page.locator(".takeaway", has_text=text["prompt"])).to_contain_text("You didn't answer")
    takeaways = page.locator(".takeaways").inner_text()
    assert "stroke" not in takeaways and "%" not in takeaways, takeaways
    screenshot(page, "student-takeaways")
    assert errors == []


def test_a_draggable_question_without_an_image_shows_a_grid_not_a_blank_box(server, browser, teacher_account):
    room = Classroom(
        server, teacher_account, "Grid", [{"kind": "draggable", "prompt": "Anywhere", "config": {}}]
    )
    room.teacher("start")
    page = room.student_in(browser.new_context(viewport=PHONE), "Hal")
    board = page.locator(".drag-board")
    expect(board).to_be_visible()
    assert board.evaluate("e => getComputedStyle(e).backgroundImage") != "none"


def test_teacher_pages_explain_what_is_missing_and_keep_their_buttons_whole(server, browser):
    owner, stranger = sign_up_teacher(server), sign_up_teacher(server)
    deck = owner.client(server).post("/decks", json={"title": "Mine"}).json()
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    errors = page_errors(page)
    log_in(page, server, stranger)

    # 10. A new teacher sees what to do, not an empty "Recent sessions" heading.
    expect(page.locator("#session-list")).to_contain_text("Your sessions will be listed here")
    expect(page.locator("#deck-list")).to_contain_text("No decks yet")
    # 10. "Create deck" stays on one line at 1366 px.
    create = page.get_by_role("button", name="Create deck")
    lines = create.evaluate(
        """b => { const text = document.createRange(); text.selectNodeContents(b);
            return new Set([...text.getClientRects()].map((line) => Math.round(line.top))).size; }"""
    )
    assert lines == 1

    # 10. Another teacher's deck is a page that says what happened and where to go.
    response = page.goto(f"{server}/teach/decks/{deck['id']}/")
    assert response.status == 404
    expect(page.get_by_role("heading", name="We can't find that page")).to_be_visible()
    expect(page.get_by_role("link", name="Back to your decks")).to_have_attribute("href", "/teach/")
    assert errors == []


def test_the_join_page_says_what_went_wrong_in_a_students_words(server, browser, teacher_account):
    room = Classroom(server, teacher_account, "Names", [{"kind": "text", "prompt": "Hi", "config": {}}])
    room.join("Ada")
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(f"{server}/?code={room.code}")
    page.get_by_label("Your name").fill("Ada")
    page.get_by_role("button", name="Join").click()
    expect(page.locator("#join-error")).to_have_text(
        "Someone in this class already uses that name. Add your last initial."
    )
    page.get_by_label("Join code").fill("ZZZZZZ")
    page.get_by_label("Your name").fill("Bea")
    page.get_by_role("button", name="Join").click()
    expect(page.locator("#join-error")).to_contain_text("We can't find a class with that code")
