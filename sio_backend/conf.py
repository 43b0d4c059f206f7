"""The ``[scaleio]`` configuration group.

Every option is typed so that a bad value fails when nova-compute starts,
with oslo.config's message naming the option, not later inside a spawn.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "scaleio"

scaleio_group = cfg.OptGroup(
    GROUP,
    title="Dell PowerFlex (ScaleIO) ephemeral storage",
    help="Options for keeping instance disks on PowerFlex volumes when "
    "[libvirt] images_type = sio.",
)

_GUID_REGEX = r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"

gateway_opts = [
    cfg.HostAddressOpt(
        "rest_server_ip",
        help="Address (IP or host name) of the PowerFlex gateway that serves the REST API.",
    ),
    cfg.PortOpt("rest_server_port", default=443, help="TCP port of the PowerFlex gateway."),
    cfg.StrOpt("rest_server_username", help="User name for the PowerFlex gateway."),
    cfg.StrOpt(
        "rest_server_password",
        secret=True,
        help="Password for the PowerFlex gateway user. Never logged. Leave unset when "
        "rest_server_password_file is used. Like every option it can also come from the "
        "environment of nova-compute, as OS_SCALEIO__REST_SERVER_PASSWORD.",
    ),
    cfg.StrOpt(
        "rest_server_password_file",
        help="File that holds the PowerFlex gateway password on its first line, so the "
        "password need not be in nova.conf. Give it to the user nova-compute runs as with "
        "mode 600: a file that group or others may read or write is refused. Setting both "
        "this and rest_server_password is an error.",
    ),
    cfg.StrOpt(
        "rest_auth_method",
        default="auto",
        choices=[
            (
                "auto",
                "OAuth (POST /rest/auth/login, Bearer tokens) where the gateway serves it, "
                "as PowerFlex 4.x and 5.x do; the legacy login where it does not (3.x)",
            ),
            ("legacy", "GET /api/login with HTTP Basic, as every 3.x gateway serves it"),
            ("oauth", "POST /rest/auth/login only, as Dell documents for 4.x and 5.x"),
        ],
        help="How the client logs in to the gateway. Leave it at auto unless the gateway "
        "answers the OAuth path with something other than 404 although it does not serve "
        "it (force legacy), or the OAuth login must never fall back (force oauth). The log "
        "says at each login which method was used.",
    ),
    cfg.BoolOpt(
        "verify_server_certificate",
        default=False,
        help="Verify the gateway's TLS certificate. Off by default for compatibility "
        "with the original specification; the client logs a warning while it is off. "
        "Turn it on in production.",
    ),
    cfg.StrOpt(
        "server_certificate_path",
        help="CA bundle (PEM) used to verify the gateway certificate when "
        "verify_server_certificate is True. When unset the system trust store is used.",
    ),
    cfg.IntOpt(
        "rest_request_timeout",
        default=60,
        min=1,
        help="Seconds to wait for the gateway to answer one request (connect and read) "
        "before the call fails. A read whose connection dropped, or that a busy gateway "
        "refused (HTTP 502, 503, 504), is sent again, up to 3 attempts, but only while "
        "less than this much time has passed since its first attempt.",
    ),
    cfg.IntOpt(
        "rest_max_connections",
        default=100,
        min=1,
        help="Maximum number of concurrent HTTP connections this host opens to the gateway.",
    ),
]

placement_opts = [
    cfg.StrOpt(
        "default_protection_domain_name",
        deprecated_name="protection_domain_name",
        help="Protection domain that holds instance disks unless the flavor sets disk:domain.",
    ),
    cfg.StrOpt(
        "default_storage_pool_name",
        deprecated_name="storage_pool_name",
        help="Storage pool that holds instance disks unless the flavor sets disk:pool.",
    ),
    cfg.StrOpt(
        "default_provisioning_type",
        deprecated_name="provisioning_type",
        default="thick",
        choices=[
            ("thick", "Thick-provisioned volumes (space reserved at creation)."),
            ("thin", "Thin-provisioned volumes (space allocated on write)."),
            ("ThickProvisioned", "Deprecated spelling of thick, from the historical patch."),
            ("ThinProvisioned", "Deprecated spelling of thin, from the historical patch."),
        ],
        help="Provisioning of new volumes unless the flavor sets disk:provisioning_type.",
    ),
    cfg.StrOpt(
        "installation_identifier",
        regex=r"^[A-Za-z0-9]{4}$",
        help="Four letters or digits that start the name of every volume this cloud "
        "creates. Two clouds sharing one PowerFlex system must use different values; "
        "volumes without this identifier are never modified or removed.",
    ),
    cfg.StrOpt(
        "disk_size_policy",
        default="reject",
        choices=[
            (
                "reject",
                "Refuse disks whose size is not a multiple of the pool's unit (8 GiB; "
                "1 GiB on PowerFlex 5.x Erasure Coding pools).",
            ),
            ("round_up", "Round such disks up to the next multiple of the pool's unit."),
        ],
        help="What to do with a flavor disk whose size PowerFlex cannot allocate "
        "exactly. Rescue disks and root_gb = 0 disks are always rounded up.",
    ),
    cfg.BoolOpt(
        "allow_non_padded_pools",
        default=False,
        help="Allow volumes in storage pools whose zero padding is disabled. On such "
        "pools a new disk may return a previous tenant's data, so this is refused "
        "unless explicitly allowed.",
    ),
]

host_opts = [
    cfg.StrOpt(
        "default_sdcguid",
        regex=_GUID_REGEX,
        help="GUID of this host's SDC. When unset it is read from the SDC kernel "
        "driver through os-brick.",
    ),
    cfg.IntOpt(
        "disk_wait_timeout",
        default=60,
        min=1,
        help="Seconds to wait for a mapped volume's device to appear under "
        "/dev/disk/by-id before the operation fails and the mapping is rolled back.",
    ),
    cfg.FloatOpt(
        "capacity_fraction",
        default=1.0,
        min=0.001,
        max=1.0,
        help="Share of the default storage pool's net capacity this host reports as "
        "DISK_GB to placement. Every host sharing a pool sees all of it; with the "
        "default 1.0 each reports the whole pool, as nova's Ceph (rbd) backend does, "
        "so placement counts the pool once per host and only the pool itself stops "
        "an overcommit. Set 1/N on N hosts sharing one pool to make placement's "
        "totals add up to the pool instead.",
    ),
]

image_cache_opts = [
    cfg.StrOpt(
        "image_cache",
        default="none",
        choices=[
            ("none", "Write the image onto every new root disk (a full copy per boot)."),
            (
                "volume",
                "Write each image once into a thin image-cache volume per storage pool; "
                "root disks are PowerFlex snapshots of it, grown to the flavor size.",
            ),
        ],
        help="How root disks are made from Glance images. 'volume' makes a boot's cost "
        "independent of the image size after the first boot of an image in a pool. "
        "Flavors that ask for thick provisioning still get a full copy, since snapshots "
        "are thin. Default 'none' until the benchmark decides (see docs/image-cache.rst).",
    ),
    cfg.IntOpt(
        "image_cache_max_clones",
        default=100,
        min=1,
        help="Root disks made from one image-cache volume before the next boot writes "
        "the image into a new one. PowerFlex allows 126 snapshots per volume tree "
        "(older releases 31) and the root disks' own resize and Glance snapshots count "
        "too, so some room is left for those.",
    ),
    cfg.IntOpt(
        "image_cache_import_timeout",
        default=1800,
        min=1,
        help="Seconds a boot waits for another host's import of the same image into "
        "the same pool. After that it writes the image into a new image-cache volume "
        "itself; sio-backend audit lists the abandoned import.",
    ),
]

ALL_OPTS = gateway_opts + placement_opts + host_opts + image_cache_opts


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register the [scaleio] group; safe to call more than once.

    Each ConfigOpts gets its own OptGroup: oslo.config copies a registered
    group shallowly, so sharing ``scaleio_group`` would share its overrides
    between every ConfigOpts in the process.
    """
    conf.register_group(cfg.OptGroup(GROUP, title=scaleio_group.title, help=scaleio_group.help))
    conf.register_opts(ALL_OPTS, group=GROUP)


def list_opts() -> list[tuple[cfg.OptGroup, list[cfg.Opt]]]:
    """Entry point for oslo-config-generator (namespace ``sio_backend``)."""
    return [(scaleio_group, ALL_OPTS)]
