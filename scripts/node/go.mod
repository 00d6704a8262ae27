module capstan.dev/node

go 1.26.0
