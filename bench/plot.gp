# plot.gp - the plot of bench/run, two panels: for each point, one bar per
# server, its requests/s over the bare epoll loop's (higher is better), and
# its server CPU time per request over epoll's (lower is better).
# Called with datafile, cpufile, outfile, fmt ('svg' or 'png') and
# plottitle set; bench/memcaslap.sh also sets baseline (the server the
# ratios are to) and xlabeltext.
if (!exists('baseline')) baseline = 'epoll'
if (!exists('xlabeltext')) xlabeltext = 'c1, c16, c256, c2048: 64-byte ping-pong at that many connections;  16k: 16 KiB messages, 16 connections'
if (fmt eq 'svg') {
	set terminal svg size 1000,760 dynamic font 'sans,12' background rgb 'white'
} else {
	set terminal pngcairo size 1000,760 font 'sans,10' background rgb 'white'
}
set output outfile
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key outside right top vertical
set datafile missing 'NaN'
ncol = system("head -n 1 '" . datafile . "' | wc -w") + 0
set multiplot layout 2,1 title plottitle
set ylabel 'requests/s over ' . baseline . "'s"
set yrange [0:*]
plot for [c=2:ncol] datafile using c:xtic(1) title columnheader(c), \
     1 with lines dashtype 2 linecolor rgb 'black' notitle
set ylabel 'server CPU/request over ' . baseline . "'s"
set xlabel xlabeltext
plot for [c=2:ncol] cpufile using c:xtic(1) title columnheader(c), \
     1 with lines dashtype 2 linecolor rgb 'black' notitle
unset multiplot
