import ftdecide


class Echo(ftdecide.Provider):
    name = "echo"

    def catalog(self):
        return [ftdecide.ModelInfo(id="echo-1", tunable=False)]

    def complete(self, messages, *, model, **params):
        text = messages[-1]["content"]
        return ftdecide.Completion(
            text=text,
            usage=ftdecide.Usage(input_tokens=len(text.split()), output_tokens=len(text.split())),
            latency_s=0.0,
        )


@ftdecide.hookimpl
def register_providers(register):
    register(Echo())
