"""What happens to an email after the server took it: bounces and complaints, from a DSN mailbox or a provider's webhooks.

Every message cabos sends is recorded by its Message-ID (``models.SentMessage``), so a
report finds its send (contact, sequence, step). Each source turns what it got into
``Report`` values (``dsn``, ``webhooks``); ``record`` applies them the same way: a hard
bounce or a complaint suppresses the address with the reason on the contact's trail, soft
bounces are counted and suppress after MAIL_SOFT_BOUNCE_LIMIT.
"""
