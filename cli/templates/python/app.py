"""`!hello` greets whoever asked, with the greeting from the configuration."""

import rosey


class Guest(rosey.Plugin):
    """The plugin. componentize-py exports the class named `Guest` in app.py."""

    def init(self) -> None:
        rosey.info("{{name}} is ready")

    def on_command(self, cmd: rosey.Command) -> str | None:
        # `greeting` has a default in manifest.yaml's config_schema, so it is
        # always set; an operator changes it with
        # `rosey plugin config {{name}} set greeting=Hi`.
        greeting = rosey.config("greeting", "Hello")
        return f"{greeting}, {cmd.user}!"
