"""websocket_dark_launch picks a stable share of students for the background WebSocket try."""

import pytest

from live.darklaunch import websocket_dark_launch


@pytest.mark.parametrize("share", [0.0, -1.0])
def test_no_student_is_picked_when_the_share_is_zero(settings, share):
    settings.WEBSOCKET_DARK_LAUNCH_SHARE = share
    assert not any(websocket_dark_launch(student_id) for student_id in range(2000))


def test_every_student_is_picked_when_the_share_is_one(settings):
    settings.WEBSOCKET_DARK_LAUNCH_SHARE = 1.0
    assert all(websocket_dark_launch(student_id) for student_id in range(2000))


@pytest.mark.parametrize("share", [0.05, 0.3, 0.75])
def test_about_the_configured_share_of_students_is_picked(settings, share):
    settings.WEBSOCKET_DARK_LAUNCH_SHARE = share
    picked = sum(websocket_dark_launch(student_id) for student_id in range(20000))
    assert abs(picked / 20000 - share) < 0.015


def test_a_student_gets_the_same_answer_every_time_and_a_bigger_share_keeps_them(settings):
    settings.WEBSOCKET_DARK_LAUNCH_SHARE = 0.2
    first = [websocket_dark_launch(student_id) for student_id in range(1000)]
    assert first == [websocket_dark_launch(student_id) for student_id in range(1000)]
    settings.WEBSOCKET_DARK_LAUNCH_SHARE = 0.5
    wider = [websocket_dark_launch(student_id) for student_id in range(1000)]
    assert all(w for f, w in zip(first, wider, strict=True) if f)
