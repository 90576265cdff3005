"""`papo user create` and `papo account connect`."""

from __future__ import annotations

import argparse
from typing import Any

from papo.cli.common import CommandError, parse_datetime, print_json, run_with_stores


def cmd_user_create(args: argparse.Namespace) -> int:
    """Create a business user."""
    from papo.services.users import create_user

    async def work(settings: Any, stores: Any) -> Any:
        return await create_user(email=args.email, name=args.name, plan=args.plan)

    user = run_with_stores(args, work)
    print_json({"id": str(user.id), "email": user.email, "name": user.name, "plan": str(user.plan)})
    return 0


def cmd_account_connect(args: argparse.Namespace) -> int:
    """Connect a platform account with a token you already have (the token is stored encrypted)."""
    import secrets

    from papo.runtime import token_cipher
    from papo.services import account_index
    from papo.services.accounts import connect_account
    from papo.services.outbound import forget_account
    from papo.services.users import get_user_by_email

    expires = parse_datetime(args.expires_at) if args.expires_at else None
    waba_id = (args.waba_id or "").strip() or None
    if waba_id is not None and args.platform.strip().lower() != "whatsapp":
        raise CommandError("--waba-id is only for --platform whatsapp")
    if waba_id is not None and not waba_id.isdigit():
        raise CommandError(f"--waba-id {waba_id!r} is not a WhatsApp Business Account id (digits only)")
    # A custom channel (Kwai) signs its webhooks with a secret of its own: make one if none is given.
    webhook_secret = args.webhook_secret
    if args.platform.strip().lower() == "kwai" and not webhook_secret:
        webhook_secret = secrets.token_urlsafe(32)

    async def work(settings: Any, stores: Any) -> Any:
        user = await get_user_by_email(args.user)
        account, created = await connect_account(
            user=user,
            platform=args.platform,
            platform_account_id=args.account_id,
            access_token=args.token,
            refresh_token=args.refresh_token,
            token_expires_at=expires,
            business_name=args.name,
            webhook_secret=webhook_secret,
            callback_url=args.callback_url,
            cipher=token_cipher(settings),
        )
        if waba_id is not None:  # the object Meta delivers this number's webhooks through
            account.details = {**(account.details or {}), "waba_id": waba_id}
            await account.save(update_fields=["details"])
        await account_index.add(stores.redis, account)
        await forget_account(stores.redis, str(account.id))  # senders must pick up the new token now
        return account, created

    account, created = run_with_stores(args, work)
    out = {
        "id": str(account.id),
        "platform": str(account.platform),
        "platform_account_id": account.platform_account_id,
        "business_name": account.business_name,
        "created": created,
    }
    if waba_id is not None:
        out["waba_id"] = waba_id
    if webhook_secret and not args.webhook_secret:
        out["webhook_secret"] = webhook_secret  # shown once: the partner connector signs with it
    print_json(out)
    return 0
