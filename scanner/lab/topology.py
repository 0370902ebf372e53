"""The lab's address plan and the namespaces, bridges and links that realise it.

Address plan (all inside lab namespaces; nothing touches the host's own network):

* 198.18.0.0/24 — the scanner's segment: scanner 198.18.0.1 on `lab0`, router 198.18.0.254,
  one namespace per device, each a veth on the bridge `br0` (so the scanner sees its MAC).
* 198.18.1.0/24 — behind the router (bridge `br1` in the router namespace, 198.18.1.254):
  the scanner reaches it through its route `198.18.1.0/24 via 198.18.0.254`, so it sees the
  router's MAC for those devices, as on a real routed network.
* 198.19.0.0/16 — the fleet (`count=N`): N macvlan hosts in one namespace, spread over the
  /16, on the same bridge (the scanner holds 198.19.0.1/16 too, so it sees their MACs).
  The fleet's port delivers each ARP request to the one host that owns the address
  (`fleet_arp_ruleset`), as a switch with ARP suppression does.

The scanner namespace gets routes for lab prefixes only; it never has a default route.
A lab holding IPv6 personas adds the IPv6 plan of camaudit.lab.net6 (fdca:a0d1::/48) on the
same links; an IPv4-only lab keeps IPv6 off everywhere.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from itertools import cycle
from pathlib import Path

from camaudit.lab import net6, netns
from camaudit.lab.persona import Onvif, Persona

LOCAL_NET = ipaddress.IPv4Network("198.18.0.0/24")
ROUTED_NET = ipaddress.IPv4Network("198.18.1.0/24")
# The one SNMPv2c community the shipped personas answer; lab scans (tests, demo) configure it,
# since the scanner never guesses one (docs/lab.md).
LAB_SNMP_COMMUNITY = "camaudit-lab-ro"
# The SNMPv3 users the v3 personas know, as `[[snmp.users]]` tables of a scanner config.
LAB_SNMP_USERS = [
    {"user": "camaudit-lab-v3", "auth_protocol": "sha", "auth_key": "lab-auth-passphrase",
     "priv_protocol": "aes", "priv_key": "lab-priv-passphrase"},
]
LAB_SNMP_AUTH_ONLY_USER = {"user": "camaudit-lab-auth", "auth_protocol": "sha256", "auth_key": "lab-auth-passphrase"}
FLEET_NET = ipaddress.IPv4Network("198.19.0.0/16")
SCANNER_IP = "198.18.0.1"
SCANNER_FLEET_IP = "198.19.0.1"
ROUTER_LAN_IP = "198.18.0.254"
ROUTER_ROUTED_IP = "198.18.1.254"
SCANNER_IFACE = "lab0"
DEVICE_IFACE = "eth0"
MAX_FLEET = 4000  # file descriptors and fleet address spacing stay comfortable below this
_NAME_RE = re.compile(r"^[a-z0-9]{1,12}$")


@dataclass(frozen=True, slots=True)
class Device:
    """One simulated host: a persona at an address, in a namespace, on an interface."""

    persona: Persona
    ip: str
    mac: str
    segment: str   # local | routed | fleet
    netns: str
    ifname: str
    ipv6: str | None = None   # its IPv6 address; an IPv6-only device has it as `ip` too

    @property
    def ipv4(self) -> str | None:
        return None if ":" in self.ip else self.ip

    def truth(self, chatter: bool = False) -> dict:
        """The ground truth of the device; `chatter`: the lab sends personas' chatter."""
        t = self.persona.truth
        talk = self.persona.chatter
        return {"ip": self.ip, "ipv6": self.ipv6, "mac": self.mac, "persona": self.persona.id, "segment": self.segment,
                "vendor": t.vendor, "brand": t.brand, "model": t.model, "flagged": t.flagged,
                "device_type": t.device_type, "firmware": t.firmware, "serial": t.serial,
                "tcp_ports": self.persona.tcp_ports,
                # responders that answer with the persona's own reply (not silent, not raw bytes;
                # SADP and DHIP only over IPv4);
                # "onvif-wsd" answers WS-Discovery 2005/04 Probes, "onvif-wsd2009" 2009/01 ones
                "udp": [n for n, on in (("onvif-wsd", self._wsd("2005")), ("onvif-wsd2009", self._wsd("2009")),
                                        ("sadp", self.ipv4 and self.persona.sadp), ("dhip", self.ipv4 and self.persona.dhip),
                                        ("ssdp", self.persona.ssdp), ("mdns", self.persona.mdns))
                        if on and on.behaviour.name in ("normal", "flood")],
                # the kinds it announces unasked with its own content (not raw bytes)
                "chatter": list(talk.kinds) if chatter and talk and talk.behaviour.name in ("normal", "flood") else []}

    def _wsd(self, version: str) -> Onvif | None:
        onvif = self.persona.onvif
        return onvif if onvif and version in onvif.wsd_versions else None


@dataclass(frozen=True, slots=True)
class Plan:
    """Every name and address of one lab, computed before anything is created."""

    name: str
    devices: tuple[Device, ...]
    fleet: bool

    @property
    def ipv6(self) -> bool:
        """Whether the lab switches IPv6 on (only when a device has an IPv6 address)."""
        return any(d.ipv6 for d in self.devices)

    @property
    def scanner_ns(self) -> str:
        return f"ca-{self.name}-scan"

    @property
    def lan_ns(self) -> str:
        return f"ca-{self.name}-lan"

    @property
    def router_ns(self) -> str:
        return f"ca-{self.name}-rtr"

    @property
    def fleet_ns(self) -> str:
        return f"ca-{self.name}-fleet"

    @property
    def namespaces(self) -> list[str]:
        """All namespaces of the lab, in creation order (teardown deletes exactly these)."""
        infra = [self.scanner_ns, self.lan_ns, self.router_ns]
        if self.fleet:
            return infra + [self.fleet_ns]
        return infra + [d.netns for d in self.devices]


def check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(f"lab name {name!r}: use 1-12 of a-z and 0-9 (it becomes part of namespace names)")
    return name


def _mac_for(persona: Persona, ip: str) -> str:
    """A persona given only an OUI gets a MAC derived from its address (stable across runs)."""
    if persona.mac:
        return persona.mac
    packed = ipaddress.ip_address(ip).packed
    return f"{persona.oui}:{packed[-3]:02x}:{packed[-2]:02x}:{packed[-1]:02x}"


def plan_devices(name: str, personas: list[Persona]) -> Plan:
    """One namespace per persona at its fixed address (personas without one get a free address)."""
    check_name(name)
    taken = {p.ip for p in personas if p.ip}
    free = {seg: (str(h) for h in net.hosts() if str(h) not in taken and int(h) & 0xFF not in (1, 254))
            for seg, net in (("local", LOCAL_NET), ("routed", ROUTED_NET))}
    devices = []
    for i, p in enumerate(personas):
        ipv6 = None
        if p.ipv6 is not None:
            ipv6 = net6.eui64(net6.NETS6[p.segment], p.mac) if p.ipv6 == net6.EUI64 else p.ipv6
        ip = p.ip or ipv6 or next(free[p.segment])
        devices.append(Device(p, ip, _mac_for(p, ip), p.segment, f"ca-{name}-d{i}", DEVICE_IFACE, ipv6))
    return Plan(name, tuple(devices), fleet=False)


def fleet_address(index: int, count: int) -> str:
    """Host `index` of `count`, spread evenly over 198.19.0.0/16 (a sparse net to sweep)."""
    step = max(1, (FLEET_NET.num_addresses - 4) // count)
    return str(FLEET_NET.network_address + 2 + index * step)


def plan_fleet(name: str, personas: list[Persona], count: int, ipv6: bool = False) -> Plan:
    """`count` macvlan hosts drawn round-robin from `personas`, with MACs of their OUIs.

    Fleet MACs set the top bit of the fourth octet (`oui:8x:xx:xx`), which the shipped
    personas never use, so a fleet MAC never collides with a shipped one. With `ipv6` the
    hosts are IPv6-only, one after another from fdca:a0d1:0:2::2 (a /120 holds 254 of them).
    """
    check_name(name)
    if not 1 <= count <= MAX_FLEET:
        raise ValueError(f"fleet size {count}: choose 1-{MAX_FLEET}")
    devices = []
    for i, p in zip(range(count), cycle(personas)):
        mac = f"{p.oui}:{0x80 | (i >> 16):02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}"
        ip6 = str(net6.FLEET_NET6.network_address + 2 + i) if ipv6 else None
        devices.append(Device(p, ip6 or fleet_address(i, count), mac, "fleet", f"ca-{name}-fleet", f"m{i}", ip6))
    return Plan(name, tuple(devices), fleet=True)


def build(plan: Plan) -> None:
    """Create namespaces, bridges, links, addresses and routes. Raises NetnsError on failure
    (the caller tears down by `plan.namespaces`)."""
    ensure_neighbour_capacity(len(plan.devices))  # also protects labs running side by side
    for ns in plan.namespaces:
        netns.add(ns)
    scan, lan, rtr = plan.scanner_ns, plan.lan_ns, plan.router_ns
    # Links are created from the main namespace straight into their target namespaces,
    # so no lab interface ever appears in the host's own namespace.
    links = [f"link add {SCANNER_IFACE} netns {scan} type veth peer name scan0 netns {lan}",
             f"link add lan0 netns {rtr} type veth peer name rtr0 netns {lan}"]
    if plan.fleet:
        links.append(f"link add {SCANNER_IFACE} netns {plan.fleet_ns} type veth peer name fleet0 netns {lan}")
    else:
        for i, d in enumerate(plan.devices):
            side = lan if d.segment == "local" else rtr
            links.append(f"link add {d.ifname} netns {d.netns} address {d.mac} type veth "
                         f"peer name d{i} netns {side}")
    netns.ip_batch(links)

    # No IGMP snooping: the bridges flood multicast like an unmanaged switch, so discovery
    # never depends on when a join was seen.
    # LLDP's nearest-bridge address (01:80:c2:00:00:0e, bit 14 of group_fwd_mask) is
    # forwarded too, as by the many unmanaged switches that do not speak LLDP themselves, so
    # the scanner hears the chatter of every device on the segment, not only its neighbour's.
    lan_cmds = ["link add br0 type bridge mcast_snooping 0 group_fwd_mask 0x4000", "link set br0 up"]
    rtr_cmds = ["link add br1 type bridge mcast_snooping 0", "link set br1 up",
                f"addr add {ROUTER_ROUTED_IP}/24 dev br1",
                f"addr add {ROUTER_LAN_IP}/24 dev lan0", "link set lan0 up"]
    for port in ["scan0", "rtr0"] + (["fleet0"] if plan.fleet else []):
        lan_cmds += [f"link set {port} master br0", f"link set {port} up"]
    for i, d in enumerate(plan.devices if not plan.fleet else ()):
        cmds = lan_cmds if d.segment == "local" else rtr_cmds
        cmds += [f"link set d{i} master {'br0' if d.segment == 'local' else 'br1'}", f"link set d{i} up"]
    netns.ip_batch(lan_cmds, ns=lan)
    netns.ip_batch(rtr_cmds, ns=rtr)
    netns.sysctl(rtr, "net.ipv4.ip_forward", "1")

    scan_cmds = [f"addr add {SCANNER_IP}/24 dev {SCANNER_IFACE}", f"link set {SCANNER_IFACE} up",
                 f"route add {ROUTED_NET} via {ROUTER_LAN_IP}"]
    if plan.fleet:
        scan_cmds.insert(1, f"addr add {SCANNER_FLEET_IP}/16 dev {SCANNER_IFACE}")
    netns.ip_batch(scan_cmds, ns=scan)

    if plan.fleet:
        (_build_fleet6 if plan.ipv6 else _build_fleet)(plan)
        return
    for d in plan.devices:
        if d.ipv4 is None:
            netns.ip_batch([f"link set {d.ifname} up"], ns=d.netns)
            continue
        if d.segment == "local":
            route = f"route add {ROUTED_NET} via {ROUTER_LAN_IP}"
        else:
            route = f"route add {LOCAL_NET} via {ROUTER_ROUTED_IP}"
        netns.ip_batch([f"addr add {d.ip}/24 dev {d.ifname}", f"link set {d.ifname} up", route], ns=d.netns)
    if plan.ipv6:
        _build_ipv6(plan)


def _build_ipv6(plan: Plan) -> None:
    """The IPv6 plan (camaudit.lab.net6) on the links `build` made: the scanner, the router
    and each IPv6 device get IPv6 and their addresses; the bridge namespace stays IPv4-only
    (a bridge forwards IPv6 frames without an IPv6 stack of its own). `nodad`: usable at once."""
    scan, rtr = plan.scanner_ns, plan.router_ns
    net6.enable(scan, ["lo", SCANNER_IFACE])
    netns.ip_batch([f"addr add {net6.SCANNER_IP6}/64 dev {SCANNER_IFACE} nodad",
                    f"route add {net6.ROUTED_NET6} via {net6.ROUTER_LAN_IP6}"], ns=scan)
    net6.enable(rtr, ["lo", "lan0", "br1"], router=True)
    netns.ip_batch([f"addr add {net6.ROUTER_LAN_IP6}/64 dev lan0 nodad",
                    f"addr add {net6.ROUTER_ROUTED_IP6}/64 dev br1 nodad"], ns=rtr)
    for d in plan.devices:
        if d.ipv6 is None:
            continue
        net6.enable(d.netns, ["lo", d.ifname])
        other, gateway = ((net6.ROUTED_NET6, net6.ROUTER_LAN_IP6) if d.segment == "local"
                          else (net6.LOCAL_NET6, net6.ROUTER_ROUTED_IP6))
        netns.ip_batch([f"addr add {d.ipv6}/64 dev {d.ifname} nodad",
                        f"route add {other} via {gateway}"], ns=d.netns)


NEIGH_SYSCTL = Path("/proc/sys/net/ipv4/neigh/default")


def ensure_neighbour_capacity(hosts: int) -> dict[str, int]:
    """Raise the kernel's ARP table limits (global, shared by all namespaces) so a fleet fits.

    A fleet of N needs about 2N entries (the scanner's entry per host, each host's entry for
    the scanner); the default hard limit of 1,024 overflows near 500 hosts and connects then
    fail with EHOSTUNREACH. Limits are only ever raised, never lowered; returns what changed.
    """
    wanted = {"gc_thresh2": 2 * hosts + 2048, "gc_thresh3": 4 * hosts + 4096}
    changed = {}
    for key, value in wanted.items():
        path = NEIGH_SYSCTL / key
        if int(path.read_text()) < value:
            path.write_text(str(value))
            changed[key] = value
    return changed


def _build_fleet(plan: Plan) -> None:
    """Macvlan hosts in one namespace: each its own MAC and /32, answering ARP only for
    itself (arp_ignore/arp_announce) and replying from its own interface (policy routes)."""
    ns = plan.fleet_ns
    for key, value in (("arp_ignore", "1"), ("arp_announce", "2")):
        for scope in ("all", "default"):
            netns.sysctl(ns, f"net.ipv4.conf.{scope}.{key}", value)
    cmds = [f"link set {SCANNER_IFACE} up"]
    for i, d in enumerate(plan.devices):
        table = 1000 + i
        # bcqueuelen: every broadcast (an ARP sweep) is copied to all macvlans of the port
        cmds += [f"link add {d.ifname} link {SCANNER_IFACE} address {d.mac} type macvlan mode bridge bcqueuelen 10000",
                 f"addr add {d.ip}/32 dev {d.ifname}",
                 f"link set {d.ifname} up",
                 f"route add {FLEET_NET} dev {d.ifname} src {d.ip} table {table}",
                 f"route add {LOCAL_NET} dev {d.ifname} src {d.ip} table {table}",
                 f"rule add from {d.ip} table {table}"]
    netns.ip_batch(cmds, ns=ns)
    netns.nft(fleet_arp_ruleset(plan), ns)


def _build_fleet6(plan: Plan) -> None:
    """The IPv6 fleet: macvlan hosts with one /128 each on fdca:a0d1:0:2::/64, replying from
    their own interface (policy routes), the scanner on fdca:a0d1:0:2::1/64. Neighbour
    solicitations need no ARP-style help: each goes to its address's solicited-node group,
    which only the owner joins, and macvlan hands multicast only to hosts that joined it."""
    net6.enable(plan.scanner_ns, ["lo", SCANNER_IFACE])
    netns.ip_batch([f"addr add {net6.SCANNER_FLEET_IP6}/64 dev {SCANNER_IFACE} nodad"], ns=plan.scanner_ns)
    ns = plan.fleet_ns
    netns.ip_batch([f"link set {SCANNER_IFACE} up"] + [
        f"link add {d.ifname} link {SCANNER_IFACE} address {d.mac} type macvlan mode bridge" for d in plan.devices], ns=ns)
    net6.enable(ns, ["lo"] + [d.ifname for d in plan.devices])
    cmds = []
    for i, d in enumerate(plan.devices):
        cmds += [f"addr add {d.ipv6}/128 dev {d.ifname} nodad", f"link set {d.ifname} up",
                 f"route add {net6.FLEET_NET6} dev {d.ifname} src {d.ipv6} table {1000 + i}",
                 f"rule add from {d.ipv6} table {1000 + i}"]
    netns.ip_batch(cmds, ns=ns, family="-6")


def fleet_arp_ruleset(plan: Plan) -> str:
    """nftables rules for the fleet's port: a broadcast ARP request becomes unicast to the MAC
    of the host that owns the asked address, and a request for an address nobody owns is dropped.

    Why: macvlan copies every broadcast to every host of the port, in one kernel. An ARP sweep
    of a /16 past 1,000 hosts is 65M copies; the kernel's broadcast queue overflows and most
    requests never reach their host (before this rule 283 of 1,000 hosts answered a /16 sweep; docs/performance.md). On a
    real network each host takes its copy on its own CPU, so the flood costs nothing there; here
    the unicast rewrite gives the scanner the answers a real segment would, and leaves its
    own packets untouched. Runs at the ingress hook, before macvlan picks a host.
    """
    elements = ",\n      ".join(f"{d.ip} : {d.mac}" for d in plan.devices)
    return (f"table netdev camaudit_fleet {{\n"
            f"  map owner {{\n    type ipv4_addr : ether_addr\n    elements = {{\n      {elements}\n    }}\n  }}\n"
            f"  chain arp_in {{\n"
            f"    type filter hook ingress device \"{SCANNER_IFACE}\" priority 0; policy accept;\n"
            f"    ether daddr ff:ff:ff:ff:ff:ff arp operation request ether daddr set arp daddr ip map @owner\n"
            f"    ether daddr ff:ff:ff:ff:ff:ff arp operation request counter drop\n"
            f"  }}\n}}\n")


def destroy(namespaces: list[str]) -> list[str]:
    """Delete exactly these namespaces; returns the ones that still exist afterwards."""
    for ns in reversed(namespaces):
        netns.delete(ns)
    return [ns for ns in namespaces if netns.exists(ns)]
