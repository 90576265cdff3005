"""Use-cases shared by the CLI, the admin bot and the pipeline. Handlers never query models directly."""


class ServiceError(Exception):
    """A use-case refused its input; the message is meant for the person who gave it."""


class NotFound(ServiceError):
    """The thing asked for does not exist (for this business)."""
