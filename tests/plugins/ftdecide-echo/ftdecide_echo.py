"""A third-party plugin as a user would write one: a provider with an option schema, and a
command of its own. Installed by pip in tests/test_plugins.py."""

import click

import ftdecide


class Echo(ftdecide.Provider):
    name = "echo"
    options = (
        ftdecide.Option("repeat", int, "say it N times", minimum=1, scope="complete"),
    )

    def catalog(self):
        return [ftdecide.ModelInfo(id="echo-1", tunable=False)]

    def complete(self, messages, *, model, repeat=1, **params):
        text = " ".join([messages[-1]["content"]] * repeat)
        return ftdecide.Completion(
            text=text,
            usage=ftdecide.Usage(input_tokens=len(text.split()), output_tokens=len(text.split())),
            latency_s=0.0,
        )


@ftdecide.hookimpl
def register_providers(register):
    register(Echo())


@ftdecide.hookimpl
def register_commands(cli):
    @cli.command(name="echo-hello")
    @click.argument("name")
    def echo_hello(name):
        """Say hello (a command added by the echo plugin)."""
        click.echo(f"hello {name}")
