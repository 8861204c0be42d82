"""Homeward's services: intake, referral and follow-up."""
