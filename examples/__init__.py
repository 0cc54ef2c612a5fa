"""The lecture course's example submissions and the known-right and known-wrong code they are built from."""
