// The floor of the DNS measurement: the smallest possible DNS server (node:dgram
// + dns-packet, one fixed A record for any name, no lookups), run over the bare
// veth pair by the network bench. Whatever latency the load client measures
// against it is the client's and the machine's own, not a server's.
//
// Run as `nsenter --net=<ns> node net-dns-reference.js <address> <answer>`; prints
// "listening" once bound and answers until killed.
import { createSocket } from 'node:dgram';
import dnsPacket from 'dns-packet';

const [address, answer] = process.argv.slice(2);
if (!address || !answer) {
  process.stderr.write('usage: net-dns-reference.js <listen address> <A record to answer>\n');
  process.exit(2);
}
const sock = createSocket('udp4');
sock.on('message', (msg, from) => {
  let q: dnsPacket.DecodedPacket;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    return;
  }
  const questions = q.questions ?? [];
  const answers = questions.filter((x) => x.type === 'A').map((x) => ({ type: 'A' as const, name: x.name, ttl: 600, data: answer }));
  const reply = dnsPacket.encode({ id: q.id ?? 0, type: 'response', flags: dnsPacket.RECURSION_AVAILABLE, questions, answers });
  sock.send(reply, from.port, from.address);
});
sock.bind(53, address, () => process.stdout.write('listening\n'));
