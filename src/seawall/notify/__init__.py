"""Notification campaigns: audiences -> notices -> SMTP, crash-safe and resumable.

``campaign`` plans who is told what (pure), ``store`` keeps campaigns and notices,
``render`` turns a notice into a message, ``smtp`` delivers it, ``send`` drives a
campaign to the end and can be resumed after a crash.
"""
