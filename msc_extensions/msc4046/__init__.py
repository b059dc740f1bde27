"""MSC4046: clients build and send full PDUs, on their own server or through a
server that is in the room."""
