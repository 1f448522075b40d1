"""The device pool: devices opened once per worker and reused by the points it runs.

Opening ``sim://`` builds (or finds in its cache) and starts a simulated board: seconds, far
more than a small point takes. So a worker keeps what it opened: :func:`pooled_device` returns
the device of this thread for a URL and core configuration, opening it the first time. A
``model://`` or ``sim://`` device belongs to one worker thread (a worker with two threads runs
two simulated boards); a board (serial port or socket) belongs to the process and is used by
one point at a time: the sweep asks Dask for the board's worker resource
(:func:`board_resource`), which the worker owning the port declares
(``dask worker ... --resources "board_ttyUSB1=1"``), and a lock guards it besides.

Each worker keeps at most :data:`POOL_SIZE` devices per thread (least recently used closed
first), so a sweep over core sizes does not pile up simulated boards. Devices are closed when
the process exits.
"""

import atexit
import contextlib
import re
import threading
from collections import OrderedDict
from urllib.parse import urlsplit

from spikeforge.config import ConfigError

__all__ = ["pooled_device", "board_resource", "close_pool", "pool_size", "pooled_urls",
           "POOL_SIZE"]

POOL_SIZE = 2
_LOCAL = ("model", "sim")
_pool = OrderedDict()       # (owner, url, config hash) -> (device, lock)
_guard = threading.Lock()


def _scheme(url):
    return urlsplit(url).scheme if "://" in url else "serial"


def board_resource(url):
    """The Dask worker resource a point on ``url`` needs, or None for ``model://`` and
    ``sim://`` (any worker runs those). ``serial:///dev/ttyUSB1`` and ``/dev/ttyUSB1`` need
    ``board_ttyUSB1``; ``socket://host:5000`` needs ``board_host_5000``."""
    scheme = _scheme(url)
    if scheme in _LOCAL:
        return None
    parts = urlsplit(url)
    where = parts.path if scheme == "serial" and "://" in url else url.split("?")[0]
    if scheme == "socket":
        where = parts.netloc
    name = where.rstrip("/").rsplit("/", 1)[-1]
    return "board_" + re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")


@contextlib.contextmanager
def pooled_device(url, config):
    """The pooled device for ``url`` and ``config`` of this worker (thread), held for the
    duration of the ``with`` block."""
    from ..device import DeviceError, open_device

    local = _scheme(url) in _LOCAL
    owner = threading.get_ident() if local else None
    key = (owner, url, config.hash, tuple(sorted(config.to_dict().items())))
    with _guard:
        entry = _pool.get(key)
        if entry is not None:
            _pool.move_to_end(key)
    if entry is None:
        try:
            device = open_device(url, config)
        except DeviceError as error:
            raise ConfigError(f"cannot open device {url!r}: {error}") from None
        entry = (device, threading.Lock(), _poisson_words(device, config))
        with _guard:
            _pool[key] = entry
            mine = [k for k in _pool if k[0] == owner]
            for old in mine[:-POOL_SIZE]:
                dropped = _pool.pop(old)[0]
                with contextlib.suppress(Exception):
                    dropped.close()
    device, lock, poisson = entry
    with lock:
        try:
            if poisson is not None:
                # the generators keep their place across resets: put them back where a fresh
                # device starts, so that a point's result does not depend on the points before
                from spikeforge.rtl.regions import Region

                device.write_region(Region.POISSON_STATE, poisson)
            yield device
        except ConfigError:
            raise
        except BaseException:
            # a device that failed mid-point may hold half a transaction: open a fresh one
            # for the next point
            with _guard:
                if _pool.get(key) is entry:
                    del _pool[key]
            with contextlib.suppress(Exception):
                device.close()
            raise


def _poisson_words(device, config):
    """The Poisson generator state of a freshly opened device (None without generators)."""
    from spikeforge.rtl.regions import Region, region_depth

    if not config.has_poisson or not region_depth(config, Region.POISSON_STATE):
        return None
    return list(device.read_region(Region.POISSON_STATE))


def pool_size():
    """How many devices this process holds open."""
    with _guard:
        return len(_pool)


@atexit.register
def close_pool():
    """Close every pooled device of this process."""
    with _guard:
        entries = list(_pool.values())
        _pool.clear()
    for device, *_ in entries:
        with contextlib.suppress(Exception):
            device.close()


def pooled_urls():
    """The URLs of the devices this process holds open (one entry per device)."""
    with _guard:
        return [key[1] for key in _pool]
