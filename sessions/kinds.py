"""Question kinds: what each kind's configuration and answers look like, and how they are tallied.

This is the one place that knows the kinds, and the one check every answer passes whichever
transport brought it (HTTP, WebSocket, Firebase inbox). Configurations and answers are checked
with strict pydantic models (no coercion: "5" is not a number, true is not a choice index); every
string is valid, NUL-free Unicode and every number finite (domain.untrusted), and every failure
becomes a DomainError naming the offending field. Tallies hold for any stored answer, the largest
finite numbers included, without overflowing.
"""

import json
import math
from typing import Annotated, Any, Literal, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.errors import DomainError
from domain.untrusted import Text, printable

MULTIPLE_CHOICE = "multiple_choice"
TEXT = "text"
NUMBER = "number"
DRAGGABLE = "draggable"
DRAWING = "drawing"
SLIDE = "slide"
KINDS = (MULTIPLE_CHOICE, TEXT, NUMBER, DRAGGABLE, DRAWING, SLIDE)

MAX_PROMPT_LENGTH = 2000
MAX_IMAGE_URL_LENGTH = 500
TEXT_LENGTH_CAP = 5000
DRAWING_POINTS_CAP = 20_000
DRAWING_BYTES_CAP = 256 * 1024
HISTOGRAM_BINS = 10
INTEGER_BINS_UP_TO = 20

Unit = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- configurations -------------------------------------------------------------------------


class PublicMultipleChoiceConfig(_Strict):
    """A multiple_choice question's settings as students and the projector see them: the
    correct choices are never shown before the takeaways."""

    choices: list[Annotated[Text, Field(min_length=1, max_length=200)]] = Field(min_length=2, max_length=10)
    multiple: bool = Field(default=False, description="several choices may be picked")


class MultipleChoiceConfig(PublicMultipleChoiceConfig):
    """A multiple_choice question's settings: 2-10 different choices, single or multiple select,
    and the indices of the correct choices, if any."""

    correct: list[int] = Field(default_factory=list, description="indices into choices; may be empty")

    @model_validator(mode="after")
    def _check(self):
        stripped = [choice.strip() for choice in self.choices]
        if any(not choice for choice in stripped):
            raise ValueError("choices must not be blank")
        if len({choice.casefold() for choice in stripped}) != len(stripped):
            raise ValueError("choices must be different from each other")
        self.choices = stripped
        if len(set(self.correct)) != len(self.correct):
            raise ValueError("correct lists a choice twice")
        if any(index < 0 or index >= len(self.choices) for index in self.correct):
            raise ValueError(f"correct holds an index outside 0..{len(self.choices) - 1}")
        if not self.multiple and len(self.correct) > 1:
            raise ValueError("a single-select question has at most one correct choice")
        self.correct = sorted(self.correct)
        return self


class TextConfig(_Strict):
    """A text question's settings: the longest answer accepted, in characters."""

    max_length: int = Field(default=500, ge=1, le=TEXT_LENGTH_CAP)


class NumberConfig(_Strict):
    """A number question's settings: optional bounds, both inclusive."""

    min: Finite | None = None
    max: Finite | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be greater than max")
        return self


def clean_image_url(image_url: str) -> str:
    """An image address a page may load: http(s) or a path on this site, or empty for none."""
    image_url = image_url.strip()
    if image_url and not image_url.startswith(("https://", "http://", "/")):
        raise ValueError("must be an http(s) address or a path")
    return image_url


ImageUrl = Annotated[Text, Field(max_length=MAX_IMAGE_URL_LENGTH), AfterValidator(clean_image_url)]


class DraggableConfig(_Strict):
    """A draggable question's settings: the image a student places a point on."""

    # The image the student places a point on; the prompt's image_url is used when this is empty.
    image_url: ImageUrl = ""


class DrawingConfig(_Strict):
    """A drawing question's settings: how many points and bytes a drawing may hold, and the
    image drawn over."""

    max_points: int = Field(default=5000, ge=10, le=DRAWING_POINTS_CAP)
    max_bytes: int = Field(default=64 * 1024, ge=1024, le=DRAWING_BYTES_CAP)
    background_url: ImageUrl = ""


class SlideConfig(_Strict):
    """A slide's content; a slide takes no answer."""

    body: Text = Field(default="", max_length=TEXT_LENGTH_CAP)


CONFIGS: dict[str, type[_Strict]] = {
    MULTIPLE_CHOICE: MultipleChoiceConfig,
    TEXT: TextConfig,
    NUMBER: NumberConfig,
    DRAGGABLE: DraggableConfig,
    DRAWING: DrawingConfig,
    SLIDE: SlideConfig,
}

# What students and the projector are shown of each kind's settings (public_config below).
PUBLIC_CONFIGS: dict[str, type[_Strict]] = {**CONFIGS, MULTIPLE_CHOICE: PublicMultipleChoiceConfig}

# --- answers --------------------------------------------------------------------------------


class ChoiceAnswer(_Strict):
    """The answer to a multiple_choice question: the indices of the chosen choices (exactly one
    unless the question is multiple)."""

    choices: list[int] = Field(min_length=1, max_length=10)


class TextAnswer(_Strict):
    """The answer to a text question (not blank; at most the question's max_length)."""

    text: Text


class NumberAnswer(_Strict):
    """The answer to a number question (within the question's min and max)."""

    # Any finite double; tallies stay finite however far apart the answers are (_number_summary).
    value: Finite


class PointAnswer(_Strict):
    """The answer to a draggable question: a point on the image, each coordinate in [0, 1]."""

    x: Unit
    y: Unit


class Stroke(_Strict):
    """One stroke of a drawing: points [x, y] in [0, 1], a colour and a width."""

    points: list[Annotated[list[Unit], Field(min_length=2, max_length=2)]] = Field(
        min_length=1, max_length=DRAWING_POINTS_CAP
    )
    color: str = Field(default="#000000", pattern=r"^#[0-9a-fA-F]{6}$")
    width: float = Field(default=3.0, gt=0, le=50, allow_inf_nan=False)


class DrawingAnswer(_Strict):
    """The answer to a drawing question (within the question's max_points and max_bytes)."""

    strokes: list[Stroke] = Field(max_length=1000)

    @field_validator("strokes")
    @classmethod
    def _round(cls, strokes):
        # Four decimals is a tenth of a pixel on a 1000-pixel canvas and keeps answers small.
        for stroke in strokes:
            stroke.points = [[round(x, 4), round(y, 4)] for x, y in stroke.points]
        return strokes


ANSWERS: dict[str, type[_Strict]] = {
    MULTIPLE_CHOICE: ChoiceAnswer,
    TEXT: TextAnswer,
    NUMBER: NumberAnswer,
    DRAGGABLE: PointAnswer,
    DRAWING: DrawingAnswer,
}


def _first_error(exc: ValidationError, prefix: str) -> tuple[str, str]:
    error = exc.errors()[0]
    # A location can hold a key the client made up (an unknown field): echo it back harmlessly.
    location = ".".join(printable(part, 64) for part in error["loc"])
    field = f"{prefix}.{location}" if location else prefix
    return field, error["msg"].removeprefix("Value error, ")


def _parse(model: type[_Strict], data: Any, *, code: str, prefix: str) -> _Strict:
    if not isinstance(data, dict):
        raise DomainError(code, f"{prefix} must be a JSON object", field=prefix)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = _first_error(exc, prefix)
        raise DomainError(code, f"{field}: {message}", field=field) from exc


def clean_config(kind: str, config: Any) -> dict:
    """Checks a question configuration and returns it normalised (defaults filled in)."""
    if kind not in CONFIGS:
        raise DomainError("invalid_question", f"kind must be one of {', '.join(KINDS)}", field="kind")
    return _parse(
        CONFIGS[kind], config if config is not None else {}, code="invalid_question", prefix="config"
    ).model_dump()


def is_answerable(kind: str) -> bool:
    return kind in ANSWERS


def clean_answer(kind: str, config: dict, answer: Any) -> dict:
    """Checks an answer against its question and returns the form that is stored."""
    if not is_answerable(kind):
        raise DomainError(
            "not_answerable", "This question is a slide and takes no answer.", field="question_id"
        )
    parsed = _parse(ANSWERS[kind], answer, code="invalid_answer", prefix="answer")
    if kind == MULTIPLE_CHOICE:
        return _clean_choices(config, parsed)
    if kind == TEXT:
        text = parsed.text.strip()
        if not text:
            raise DomainError("invalid_answer", "answer.text: must not be blank", field="answer.text")
        if len(text) > config["max_length"]:
            raise DomainError(
                "invalid_answer",
                f"answer.text: longer than the {config['max_length']} characters this question allows",
                field="answer.text",
            )
        return {"text": text}
    if kind == NUMBER:
        value = parsed.value
        if config.get("min") is not None and value < config["min"]:
            raise DomainError(
                "invalid_answer", f"answer.value: below the minimum {config['min']}", field="answer.value"
            )
        if config.get("max") is not None and value > config["max"]:
            raise DomainError(
                "invalid_answer", f"answer.value: above the maximum {config['max']}", field="answer.value"
            )
        return {"value": value}
    if kind == DRAGGABLE:
        return {"x": parsed.x, "y": parsed.y}
    return _clean_drawing(config, parsed)


def _clean_choices(config: dict, parsed: ChoiceAnswer) -> dict:
    choices = parsed.choices
    count = len(config["choices"])
    if len(set(choices)) != len(choices):
        raise DomainError("invalid_answer", "answer.choices: lists a choice twice", field="answer.choices")
    if any(index < 0 or index >= count for index in choices):
        raise DomainError(
            "invalid_answer", f"answer.choices: each must be in 0..{count - 1}", field="answer.choices"
        )
    if not config["multiple"] and len(choices) != 1:
        raise DomainError(
            "invalid_answer", "answer.choices: this question takes exactly one choice", field="answer.choices"
        )
    return {"choices": sorted(choices)}


def _clean_drawing(config: dict, parsed: DrawingAnswer) -> dict:
    points = sum(len(stroke.points) for stroke in parsed.strokes)
    if points > config["max_points"]:
        raise DomainError(
            "invalid_answer",
            f"answer.strokes: {points} points is more than the {config['max_points']} allowed",
            field="answer.strokes",
        )
    cleaned = {"strokes": [stroke.model_dump() for stroke in parsed.strokes]}
    size = len(json.dumps(cleaned, separators=(",", ":")))
    if size > config["max_bytes"]:
        raise DomainError(
            "invalid_answer",
            f"answer.strokes: {size} bytes is more than the {config['max_bytes']} allowed",
            field="answer.strokes",
        )
    return cleaned


def is_correct(kind: str, config: dict, answer: dict) -> bool | None:
    """None when the question has no right answer."""
    if kind == MULTIPLE_CHOICE and config.get("correct"):
        return answer["choices"] == sorted(config["correct"])
    return None


def same_answer(first: Any, second: Any) -> bool:
    """Whether two cleaned answers are the same, one of them perhaps read back from the database
    (which may give a float back as an integer: 1e308 as 10**308)."""
    return _comparable(first) == _comparable(second)


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _comparable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def public_config(kind: str, config: dict) -> dict:
    """The configuration a student may see (PUBLIC_CONFIGS): never the correct choices."""
    shown = PUBLIC_CONFIGS[kind].model_fields
    return {key: value for key, value in config.items() if key in shown}


def answer_text(kind: str, config: dict, answer: dict) -> str:
    """A human-readable form of an answer, for the CSV export."""
    if kind == MULTIPLE_CHOICE:
        return "; ".join(config["choices"][index] for index in answer["choices"])
    if kind == TEXT:
        return answer["text"]
    if kind == NUMBER:
        value = answer["value"]
        return str(int(value)) if float(value).is_integer() else repr(value)
    if kind == DRAGGABLE:
        return f"x={answer['x']:.4f} y={answer['y']:.4f}"
    if kind == DRAWING:
        points = sum(len(stroke["points"]) for stroke in answer["strokes"])
        return f"drawing: {len(answer['strokes'])} strokes, {points} points"
    return ""


def tally(kind: str, config: dict, answers: list[dict]) -> dict:
    """Anonymous summary of the answers to one question; safe for the projector."""
    result: dict[str, Any] = {"answered": len(answers)}
    if kind == MULTIPLE_CHOICE:
        counts = [0] * len(config["choices"])
        for answer in answers:
            for index in answer["choices"]:
                counts[index] += 1
        result["counts"] = counts
    elif kind == NUMBER:
        result.update(_number_summary([answer["value"] for answer in answers]))
    elif kind == DRAGGABLE:
        result["points"] = [[answer["x"], answer["y"]] for answer in answers]
    elif kind == TEXT:
        result["texts"] = [answer["text"] for answer in answers]
    elif kind == DRAWING:
        # The projector's gallery draws them; strokes carry no name, like texts and points.
        result["drawings"] = [{"strokes": answer["strokes"]} for answer in answers]
    return result


def _number_summary(stored: list) -> dict:
    if not stored:
        return {"summary": None, "histogram": None}
    # PostgreSQL gives a stored 1e308 back as a 309-digit integer; every answer is a finite double.
    values = sorted(float(value) for value in stored)
    count = len(values)
    low, high = values[0], values[-1]
    middle = count // 2
    # Each step divides before it adds, so nothing overflows even for answers near ±1.8e308.
    median = values[middle] if count % 2 else values[middle - 1] / 2 + values[middle] / 2
    summary = {
        "count": count,
        "min": low,
        "max": high,
        "mean": _mean(values),
        "median": median,
    }
    if high == low:
        return {"summary": summary, "histogram": {"edges": [low, high], "counts": [count]}}
    if all(value.is_integer() for value in values) and high - low < INTEGER_BINS_UP_TO:
        # Whole numbers over a short range: one bar per number, so "6" is a bar of its own and
        # not a tenth of the range. Bar i holds low + i; its edges are the half-way marks.
        counts = [0] * int(high - low + 1)
        for value in values:
            counts[int(value - low)] += 1
        edges = [low - 0.5 + step for step in range(len(counts) + 1)]
        return {"summary": summary, "histogram": {"edges": edges, "counts": counts, "integers": True}}
    bins = HISTOGRAM_BINS
    low_part, high_part = low / bins, high / bins
    width = high_part - low_part  # a tenth of the range, which itself may not fit a double
    counts = [0] * bins
    for value in values:
        index = math.floor((value / bins - low_part) / width) if width > 0 else 0
        counts[min(max(index, 0), bins - 1)] += 1
    edges = [low] + [low_part * (bins - step) + high_part * step for step in range(1, bins)] + [high]
    return {"summary": summary, "histogram": {"edges": edges, "counts": counts}}


def _mean(values: list[float]) -> float:
    try:
        return math.fsum(values) / len(values)
    except OverflowError:  # the sum of finite answers need not be finite
        return math.fsum(value / len(values) for value in values)


# The kinds a student answers (every kind but the slide), e.g. for the answer metrics' labels.
ANSWERABLE_KINDS = tuple(kind for kind in KINDS if is_answerable(kind))


# --- tallies, as documents ------------------------------------------------------------------


class _Tally(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question_id: int
    students: int = Field(description="students in the session now (removed students do not count)")
    answered: int = Field(description="answers counted (removed students' answers are left out)")


class ChoiceTally(_Tally):
    """How many picked each choice of a multiple_choice question."""

    kind: Literal["multiple_choice"]
    counts: list[int] = Field(description="one count per choice, in the question's order")


class NumberSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int
    min: float
    max: float
    mean: float
    median: float


class Histogram(BaseModel):
    """HISTOGRAM_BINS bins from min to max, one bin per number for whole numbers over a short
    range (INTEGER_BINS_UP_TO), one bin when every answer is the same."""

    model_config = ConfigDict(extra="forbid")

    edges: list[float] = Field(description="bin edges, one more than counts")
    counts: list[int]
    integers: bool = Field(
        default=False, description="whole numbers over a short range: one bin per number, edges at the halves"
    )


class NumberTally(_Tally):
    """A number question's answers summed up; null before the first answer."""

    kind: Literal["number"]
    summary: NumberSummary | None
    histogram: Histogram | None


class TextTally(_Tally):
    """Every answer to a text question (anonymous)."""

    kind: Literal["text"]
    texts: list[str]


class PointTally(_Tally):
    """Every point placed on a draggable question's image (anonymous), each [x, y]."""

    kind: Literal["draggable"]
    points: list[Annotated[list[float], Field(min_length=2, max_length=2)]]


class DrawingTally(_Tally):
    """Every drawing made for a drawing question (anonymous), for the projector's gallery."""

    kind: Literal["drawing"]
    drawings: list[DrawingAnswer]


TALLIES: dict[str, type[_Tally]] = {
    MULTIPLE_CHOICE: ChoiceTally,
    NUMBER: NumberTally,
    TEXT: TextTally,
    DRAGGABLE: PointTally,
    DRAWING: DrawingTally,
}
# One question's tally, whichever kind it is (every answerable kind has one).
Tally = Annotated[Union[tuple(TALLIES.values())], Field(discriminator="kind")]  # noqa: UP007
# An answer, whichever kind of question it answers.
Answer = Union[tuple(ANSWERS.values())]  # noqa: UP007
