#!/usr/bin/env bash
# shaped-links.sh runs largebench with the links between its nodes limited
# in bandwidth, so that the links, not this machine's CPU, are the
# bottleneck: what a cluster with a machine per node sees.
#
#   tools/largebench/shaped-links.sh [-m pair|node] [-r RATE] [-n NODES] [-b BASE] [-u MTU] [-q QDISC] [-- largebench flags]
#
#   -m pair  every ordered pair of nodes has its own link of RATE (default):
#            a node may send to several peers at RATE each.
#   -m node  every node has one uplink and one downlink of RATE, shared by
#            all its peers (a NIC): a node that relays to k peers sends
#            each byte k times through one uplink.
#   -r RATE  tc rate (default 32mbit, 4 MB/s)
#   -n NODES nodes (default 8)
#   -b BASE  node i listens on BASE + i (default 127.0.0.11)
#   -u MTU   packet size on the links (default: loopback's 65536). 1500 is
#            an Ethernet link's: packets then queue 1,500 bytes at a time,
#            not up to 64 KiB (segmentation offload is capped to MTU too).
#   -q QDISC queue of each link (default: tc's pfifo, 1,000 packets deep):
#            "pfifo limit 64" is a shallow one (with -u 1500, 96 KB), and
#            fq_codel, where the kernel has it, the active queue
#            management most Linux hosts use; pfifo_fast, the kernel's
#            own default, serves its three bands by socket priority
#            (transport-tcp's bulk connections are in the last).
#
# It needs root and iproute2 (ip, tc; apt-get install iproute2). Everything
# happens in a network namespace of its own, created here and deleted on
# exit: its loopback carries the nodes (largebench -distinct-ips) and the
# shaping, so nothing outside it is touched. The TCP copy that largebench
# compares with goes from node 0's address to node 1's, through the same
# shaping.
set -euo pipefail

mode=pair rate=32mbit nodes=8 base=127.0.0.11 mtu= qdisc=
while getopts "m:r:n:b:u:q:h" o; do
	case $o in
	m) mode=$OPTARG ;;
	r) rate=$OPTARG ;;
	n) nodes=$OPTARG ;;
	b) base=$OPTARG ;;
	u) mtu=$OPTARG ;;
	q) qdisc=$OPTARG ;;
	*) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift

case $mode in pair | node) ;; *) echo "shaped-links: -m pair or -m node, not $mode" >&2; exit 2 ;; esac
if [ "$(id -u)" != 0 ]; then
	echo "shaped-links: needs root (network namespaces and tc)" >&2
	exit 2
fi
for t in ip tc; do
	command -v $t >/dev/null || { echo "shaped-links: needs $t (apt-get install iproute2)" >&2; exit 2; }
done
IFS=. read -r o1 o2 o3 o4 <<<"$base"
if [ $((o4 + nodes - 1)) -gt 254 ]; then
	echo "shaped-links: $base + $nodes nodes leaves its /24" >&2
	exit 2
fi
addr() { echo "$o1.$o2.$o3.$((o4 + $1))"; }

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
ns=ptshape$$
child=
cleanup() {
	if [ -n "$child" ]; then
		kill "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # so that the EXIT trap stops largebench and deletes the namespace
(cd "$here" && go build -o "$tmp/largebench" .)

ip netns add "$ns"
ip -n "$ns" link set lo up
if [ -n "$mtu" ]; then
	ip -n "$ns" link set lo mtu "$mtu" gso_max_size "$mtu"
fi
# linkq DEV K: the queue of link class 1:K, if -q asks for one.
linkq() {
	if [ -n "$qdisc" ]; then
		echo "qdisc add dev $1 parent 1:$(printf %x $2) handle $(printf %x $(($2 + 256))): $qdisc"
	fi
}
# Each class's burst holds a few of loopback's large (64 KiB) segments.
leaf="rate $rate ceil $rate burst 256k cburst 256k quantum 65536"
{
	echo "qdisc add dev lo root handle 1: htb default 1"
	echo "class add dev lo parent 1: classid 1:1 htb rate 100gbit quantum 65536"
	k=1
	if [ "$mode" = pair ]; then
		for ((i = 0; i < nodes; i++)); do
			for ((j = 0; j < nodes; j++)); do
				[ $i = $j ] && continue
				k=$((k + 1))
				echo "class add dev lo parent 1: classid 1:$(printf %x $k) htb $leaf"
				linkq lo $k
				echo "filter add dev lo parent 1: protocol ip prio 1 u32 match ip src $(addr $i)/32 match ip dst $(addr $j)/32 flowid 1:$(printf %x $k)"
			done
		done
	else
		# Uplinks: loopback's egress, by source address.
		for ((i = 0; i < nodes; i++)); do
			k=$((k + 1))
			echo "class add dev lo parent 1: classid 1:$(printf %x $k) htb $leaf"
			linkq lo $k
			echo "filter add dev lo parent 1: protocol ip prio 1 u32 match ip src $(addr $i)/32 flowid 1:$(printf %x $k)"
		done
	fi
} >"$tmp/lo.tc"
tc -n "$ns" -batch "$tmp/lo.tc"
if [ "$mode" = node ]; then
	# Downlinks: loopback's ingress, redirected to an ifb device and shaped
	# there by destination address.
	ip -n "$ns" link add ifb0 type ifb
	ip -n "$ns" link set ifb0 up
	if [ -n "$mtu" ]; then
		ip -n "$ns" link set ifb0 mtu "$mtu" gso_max_size "$mtu"
	fi
	{
		echo "qdisc add dev lo handle ffff: ingress"
		echo "filter add dev lo parent ffff: protocol ip u32 match u32 0 0 action mirred egress redirect dev ifb0"
		echo "qdisc add dev ifb0 root handle 1: htb default 1"
		echo "class add dev ifb0 parent 1: classid 1:1 htb rate 100gbit quantum 65536"
		for ((i = 0; i < nodes; i++)); do
			echo "class add dev ifb0 parent 1: classid 1:$(printf %x $((i + 2))) htb $leaf"
			linkq ifb0 $((i + 2))
			echo "filter add dev ifb0 parent 1: protocol ip prio 1 u32 match ip dst $(addr $i)/32 flowid 1:$(printf %x $((i + 2)))"
		done
	} >"$tmp/ifb.tc"
	tc -n "$ns" -batch "$tmp/ifb.tc"
fi
echo "links shaped: $mode, $rate, mtu ${mtu:-65536}, queue ${qdisc:-pfifo}, $nodes nodes from $base (network namespace $ns)"
# In the background, so that a signal reaches the traps at once.
ip netns exec "$ns" "$tmp/largebench" -nodes "$nodes" -distinct-ips -ip "$base" "$@" &
child=$!
wait "$child"
