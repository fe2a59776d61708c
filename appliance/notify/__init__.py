"""Notifications of alarms: who gets which (rules), how many alarms make one message (batching, the
daily summary), the words (render), the durable queue's worker (notifier) and the two ways out
(e-mail over SMTP, a webhook's JSON POST: senders)."""
