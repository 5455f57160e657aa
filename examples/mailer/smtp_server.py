"""A local SMTP server for the mailer example (aiosmtpd): replies are chosen by recipient.

``busy@...`` gets ``451 4.3.0`` (temporary: the job retries), ``unknown@...`` gets
``550 5.1.1`` (unknown user: the job ends, reported at info level), ``spam@...`` is refused after
DATA with ``554 5.7.1`` (the job fails). Anything else is accepted and printed.

    python smtp_server.py            # listens on 127.0.0.1:8025 (MAILER_SMTP_PORT to change)
"""

from __future__ import annotations

import os
import time

from aiosmtpd.controller import Controller

RCPT_REPLIES = {
    "busy": "451 4.3.0 Mail server temporarily rejected message",
    "unknown": "550 5.1.1 The email account that you tried to reach does not exist",
}
DATA_REPLIES = {"spam": "554 5.7.1 Message rejected as spam"}


class ReplyByRecipient:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = RCPT_REPLIES.get(address.split("@")[0])
        print(f"RCPT TO:<{address}> -> {reply or '250 OK'}", flush=True)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        for address in envelope.rcpt_tos:
            reply = DATA_REPLIES.get(address.split("@")[0])
            if reply:
                print(f"DATA for {address} -> {reply}", flush=True)
                return reply
        print(f"--- delivered to {', '.join(envelope.rcpt_tos)} ---", flush=True)
        print(envelope.content.decode("utf-8", "replace"), flush=True)
        return "250 2.0.0 Message accepted for delivery"


def main() -> None:
    port = int(os.environ.get("MAILER_SMTP_PORT", "8025"))
    controller = Controller(ReplyByRecipient(), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"SMTP server listening on 127.0.0.1:{port}; Ctrl-C stops it", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
