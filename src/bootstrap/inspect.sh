# The preflight of `openlsp bootstrap --from-host`, run on the source host by `sh -s` over SSH.
# It reads and changes nothing: which directory holds the chain, its files with their sizes, the
# first bytes of its lowest block file and of blocks/xor.dat, the last tip lines of debug.log,
# whether a bitcoind.pid says a node runs there, and whether rsync is installed.
# openlsp puts `datadir`, `network_dir` and `other_dirs` before this text; every line printed
# starts with a word openlsp reads (src/bootstrap/remote.rs).
# shellcheck shell=sh disable=SC2154 # datadir, network_dir and other_dirs come first
set -u
LC_ALL=C
export LC_ALL

if [ ! -d "$datadir" ]; then
	echo "missing"
	exit 0
fi
chain=""
if [ -n "$network_dir" ] && [ -d "$datadir/$network_dir/blocks" ]; then
	chain="$datadir/$network_dir"
elif [ -d "$datadir/blocks" ]; then
	chain="$datadir"
else
	for other in $other_dirs; do
		if [ -d "$datadir/$other/blocks" ]; then
			chain="$datadir/$other"
			break
		fi
	done
fi
[ -n "$chain" ] || chain="$datadir"
echo "dir $chain"
if command -v rsync >/dev/null 2>&1; then echo "rsync yes"; else echo "rsync no"; fi
for pid in "$chain/bitcoind.pid" "$datadir/bitcoind.pid"; do
	if [ -e "$pid" ]; then echo "running $pid"; fi
done
for top in blocks chainstate indexes; do
	if [ -d "$chain/$top" ]; then
		find "$chain/$top/" -type f -exec stat -c 'file %s %n' {} +
	fi
done
# A glob expands sorted (LC_ALL=C): the first block file is the lowest-numbered one.
first=""
for file in "$chain"/blocks/blk[0-9]*.dat; do
	if [ -f "$file" ]; then
		first="${file##*/}"
		break
	fi
done
if [ -n "$first" ]; then
	echo "head $first $(od -An -tx1 -N4 "$chain/blocks/$first" | tr -d ' \n')"
fi
if [ -f "$chain/blocks/xor.dat" ]; then
	echo "xor $(od -An -tx1 -N8 "$chain/blocks/xor.dat" | tr -d ' \n')"
fi
if [ -f "$chain/debug.log" ]; then
	tail -c 1048576 "$chain/debug.log" | grep -E 'UpdateTip|Loaded best chain' | tail -n 50 | sed 's/^/log /'
fi
echo "end"
