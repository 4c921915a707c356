"""The emulated cellular link: impairment model, wire frames, reliable hops, the network bus."""
