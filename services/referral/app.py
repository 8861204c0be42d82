"""The referral application; its use cases come with its own issue."""

from shared.application import ServiceApplication


class ReferralApplication(ServiceApplication):
    name = "referral"
