"""The parts of scripts/ladder.py: pcap.py reads the capture and finds the
connection, escaping.py escapes payloads as the servers log them, story.py
says what each packet means (steps, phases, TCP states), svg.py draws it;
udp.py is the UDP pair's picture (datagrams, lost and late ones).
tls.py relabels a TLS session's packets by the records they carry."""
