"""The followup application; its use cases come with its own issue."""

from shared.application import ServiceApplication


class FollowUpApplication(ServiceApplication):
    name = "followup"
