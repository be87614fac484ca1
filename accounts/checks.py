from django.conf import settings
from django.core.checks import Warning, register


@register()
def a_way_to_sign_in(app_configs, **kwargs):
    if settings.PASSWORD_SIGN_IN or settings.OIDC_PROVIDERS:
        return []
    return [
        Warning(
            "No teacher can sign in: PASSWORD_SIGN_IN is off and no OIDC provider is configured.",
            hint="Set OIDC_GOOGLE_CLIENT_ID or OIDC_MICROSOFT_CLIENT_ID (and its secret), "
            "or PASSWORD_SIGN_IN=true.",
            id="accounts.W001",
        )
    ]
