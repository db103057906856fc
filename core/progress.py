"""A management command's stderr as the stream of a tqdm progress bar."""

from django.core.management.base import OutputWrapper


class ProgressStream:
    """tqdm writes partial lines ("\\r..."): each write passes ending="" so the command's
    OutputWrapper adds no newline of its own."""

    def __init__(self, wrapper: OutputWrapper):
        self.wrapper = wrapper

    def write(self, text: str) -> None:
        self.wrapper.write(text, ending="")

    def flush(self) -> None:
        self.wrapper.flush()

    def isatty(self) -> bool:
        return self.wrapper.isatty()
