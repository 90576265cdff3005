"""`papo user create` and `papo account connect`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from papo.cli.common import CommandError, parse_datetime, print_json, run_with_stores

if TYPE_CHECKING:
    from papo.config import Settings


def cmd_user_create(args: argparse.Namespace) -> int:
    """Create a business user."""
    from papo.services.users import create_user

    async def work(settings: Settings, stores: Any) -> Any:
        return await create_user(email=args.email, name=args.name, plan=args.plan)

    user = run_with_stores(args, work)
    print_json({"id": str(user.id), "email": user.email, "name": user.name, "plan": str(user.plan)})
    return 0


def cmd_account_connect(args: argparse.Namespace) -> int:
    """Connect a platform account with a token you already have (the token is stored encrypted)."""
    import secrets

    from papo.runtime import token_cipher
    from papo.services import account_index
    from papo.services.account_cache import forget_account
    from papo.services.accounts import connect_account, find_waba
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

    async def work(settings: Settings, stores: Any) -> Any:
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
        found = None
        if waba_id is None and str(account.platform) == "whatsapp" and not (account.details or {}).get("waba_id"):
            found = await find_waba(settings, account.platform_account_id, args.token)  # none given: ask Meta
        wanted = waba_id or (found.waba_id if found else None)
        if wanted is not None:  # the object Meta delivers this number's webhooks through
            account.details = {**(account.details or {}), "waba_id": wanted}
            await account.save(update_fields=["details"])
        await account_index.add(stores.redis, account)
        await forget_account(stores.redis, str(account.id))  # senders must pick up the new token now
        return account, created, found

    account, created, found = run_with_stores(args, work)
    out = {
        "id": str(account.id),
        "platform": str(account.platform),
        "platform_account_id": account.platform_account_id,
        "business_name": account.business_name,
        "created": created,
    }
    if waba_id is not None:
        out["waba_id"] = waba_id
    elif found is not None and found.waba_id:
        out["waba_id"] = found.waba_id
        out["waba_id_from"] = "meta"  # looked up with the token, not given
    elif found is not None:  # connected all the same: sending works, only webhooks wait for the id
        print(f"papo: connected, but the WhatsApp Business Account of number {account.platform_account_id} was "
              f"not found ({found.problem}); webhooks need it: run this again with --waba-id ID",
              file=sys.stderr)
    if webhook_secret and not args.webhook_secret:
        out["webhook_secret"] = webhook_secret  # shown once: the partner connector signs with it
    print_json(out)
    return 0
