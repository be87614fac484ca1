"""What each role may see of a session event. This is where privacy is decided, on the server.

Every event that bumps `seq` reaches every role in some form, so no client sees a false gap:
where a role may not see the content, it gets a bare {"type": "seq", "seq": n}.

- teacher: everything, names included.
- student: state changes and questions without correct answers; never a name, never another
  student's answer; a removal of themselves ends their socket.
- projector: state changes, a head count, and tallies only of questions whose results are
  revealed; never a name, never an individual answer.
"""

TEACHER, STUDENT, PROJECTOR = "teacher", "student", "projector"
ROLES = (TEACHER, STUDENT, PROJECTOR)

# Events whose whole content any role may see.
_PUBLIC = {
    "session_started",
    "question_changed",
    "question_locked",
    "question_unlocked",
    "results_hidden",
    "pacing_changed",
    "session_ended",
}


def for_role(event: dict, role: str, student_id: int | None = None) -> dict | None:
    """The form of `event` a connection of `role` receives, or None when it receives nothing."""
    kind = event["type"]
    if role == TEACHER:
        return event
    if kind in _PUBLIC:
        return event
    if kind == "results_revealed":
        if role == PROJECTOR:
            return event
        return {"type": "results_revealed", "seq": event["seq"], "question_id": event["question_id"]}
    if kind == "student_joined":
        if role == PROJECTOR:
            return {"type": "student_count", "seq": event["seq"], "students": event["students"]}
        return _seq_only(event)
    if kind == "student_removed":
        if role == STUDENT and event["student_id"] == student_id:
            return {"type": "removed", "seq": event["seq"]}
        if role == PROJECTOR:
            return {"type": "student_count", "seq": event["seq"], "students": event["students"]}
        return _seq_only(event)
    if kind == "tallies":
        if role == PROJECTOR:
            revealed = set(event["revealed_question_ids"])
            tallies = [tally for tally in event["tallies"] if tally["question_id"] in revealed]
            return {"type": "tallies", "seq": event["seq"], "tallies": tallies} if tallies else None
        return None  # students see only their own answers, which they sent themselves
    return None


def _seq_only(event: dict) -> dict:
    return {"type": "seq", "seq": event["seq"]}
