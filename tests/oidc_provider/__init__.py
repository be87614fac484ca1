"""A stand-in OpenID provider (Google's or Microsoft's flavour) for the sign-in tests; see
provider.py. Nothing here reaches the network beyond 127.0.0.1."""
