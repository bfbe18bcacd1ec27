"""py-relay (Python test module): forwards each message out of `output1`.

With the config `raise-on = "N"`, it raises an exception on the Nth message
an instance sees, uncaught: the traceback goes to the module's standard
error and the call traps. Built by `cargo xtask test` with componentize-py
against `wit/` (the raw bindings; no SDK).

The state is the module's, not the `Guest` object's: componentize-py 0.25.1
makes a `Guest` object for each export it calls (one for `init`, another for
`on-messages`), so what `init` sets on `self` is not seen by `on_messages`.
"""

from wit_world import exports
from wit_world.imports import batch, host, types

RAISE_ON = 0
SEEN = 0


class Guest(exports.Guest):
    def init(self, config):
        global RAISE_ON
        RAISE_ON = int(dict(config).get("raise-on", "0"))
        host.log(types.LogLevel.INFO, f"py-relay ready (raise-on {RAISE_ON})")

    def on_messages(self, input, messages):
        global SEEN
        for i, message in enumerate(messages):
            batch.handling(i)
            SEEN += 1
            if SEEN == RAISE_ON:
                raise RuntimeError(f"refused message {SEEN} of this instance")
            host.send("output1", message)

    def on_timer(self, id):
        pass

    def on_twin_desired(self, patch):
        pass

    def on_method(self, name, payload):
        return payload
