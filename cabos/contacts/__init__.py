"""People who identified themselves: contacts, suppression, export and erase."""
