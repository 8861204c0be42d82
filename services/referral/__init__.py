"""Referral: partners receive consented referrals and answer them."""
