module tlsmatrix/router

go 1.19
