module github.com/ws6455/websocket

go 1.26
