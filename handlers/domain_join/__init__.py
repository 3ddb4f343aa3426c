"""Join/leave handler: turns EC2 state changes into prestaged AD joins and stamped removals."""
