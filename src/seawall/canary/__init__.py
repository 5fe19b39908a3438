"""Canaries: decoy identities planted in each vendor's data, and the tripwires that
name the vendor the first time someone mails them or opens their link."""
