"""The sd_notify protocol on its own: datagrams to a path or an abstract socket, the watchdog period."""

from __future__ import annotations

import os
import socket

from mailbridge.service.sdnotify import Notifier


def test_notifications_reach_a_path_socket(tmp_path):
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(tmp_path / "notify"))
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    notifier.ready("listening")
    notifier.reloading()
    notifier.stopping()
    notifier.close()
    ready, reloading, stopping = (receiver.recv(4096).decode().splitlines() for _ in range(3))
    receiver.close()
    assert ready == ["READY=1", "STATUS=listening", f"MAINPID={os.getpid()}"]
    assert reloading[0] == "RELOADING=1" and reloading[1].startswith("MONOTONIC_USEC=")
    assert stopping == ["STOPPING=1", "STATUS=stopping"]


def test_an_abstract_socket_is_written_with_an_at_sign():
    name = f"mailbridge-test-{os.getpid()}"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
    notifier.watchdog()
    notifier.close()
    assert receiver.recv(4096) == b"WATCHDOG=1"
    receiver.close()


def test_without_a_socket_everything_is_a_no_op_and_the_watchdog_is_read_for_us_only():
    assert not Notifier({}).enabled
    Notifier({}).ready("x")
    assert Notifier({"WATCHDOG_USEC": "60000000"}).watchdog_seconds == 60
    assert Notifier({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}).watchdog_seconds is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_seconds is None
