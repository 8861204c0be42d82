"""The followup application; its use cases come with its own issue."""

from shared.persistence import ServiceApplication


class FollowUpApplication(ServiceApplication):
    name = "followup"
